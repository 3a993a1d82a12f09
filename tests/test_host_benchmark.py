"""semscale.host_benchmark: the back-to-back timing of the re-weighting, the allocator runs in fresh processes."""
import numpy as np
import torch

from semscale import host_benchmark


def test_back_to_back_times_the_steps_pool_update_then_the_weights_at_stage_3():
    calls = []

    class Stub:  # records what a Trainer would be asked to do
        pool = type("Pool", (), {"num_classes": 4, "dim": 3})()
        weighting = type("Weighting", (), {"class_weights": lambda self, epoch: calls.append(("weights", epoch))})()

        def _pool_update(self, features, labels, epoch):
            assert features.dtype == torch.float32 and tuple(features.shape) == (5, 3)
            assert labels.dtype == torch.int64 and labels.shape == (5,) and 0 <= labels.min() <= labels.max() < 4
            calls.append(("update", epoch))

    seconds = host_benchmark.back_to_back_seconds(Stub(), np.random.default_rng(0), batch=5, repeats=3)
    assert calls == [("update", 3), ("weights", 3)] * 3
    assert 0 < seconds < 1


def test_allocator_run_gives_the_child_glibcs_default_only_when_asked(monkeypatch):
    import subprocess

    seen = []

    def fake_run(command, env, **kwargs):
        seen.append(env)
        return subprocess.CompletedProcess(command, 0, stdout='noise\n{"img/s": 123.0, "faults per step": 7.5}\n')

    monkeypatch.setattr(subprocess, "run", fake_run)
    faults = []
    assert host_benchmark.allocator_run(5, 16, True, 3, faults) == 123.0
    assert host_benchmark.allocator_run(5, 16, False, 3, faults) == 123.0
    assert [env["SEMSCALE_MALLOC"] for env in seen] == ["default", ""] and faults == [7.5, 7.5]
    assert all(env["SEMSCALE_THREADS"] == "3" for env in seen)
    assert all("" not in env["PYTHONPATH"].split(__import__("os").pathsep) for env in seen)


def test_allocator_probe_counts_steps_and_faults():
    result = host_benchmark.allocator_probe(steps=2, batch=8)
    assert result["img/s"] > 0 and result["faults per step"] >= 0
