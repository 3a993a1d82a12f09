"""semscale.host_benchmark: the back-to-back timing of the re-weighting, the allocator runs in fresh processes."""
import numpy as np
import pytest
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

    seconds = host_benchmark.lone_update_seconds(Stub(), np.random.default_rng(0), batch=5, repeats=3)
    assert calls == [("update", 3), ("weights", 3)] * 3
    assert 0 < seconds < 1


def test_an_idle_pause_of_one_step_before_each_lone_update(monkeypatch):
    slept = []
    monkeypatch.setattr(host_benchmark.time, "sleep", slept.append)

    class Stub:
        pool = type("Pool", (), {"num_classes": 2, "dim": 3})()
        weighting = type("Weighting", (), {"class_weights": lambda self, epoch: None})()

        def _pool_update(self, features, labels, epoch):
            pass

    host_benchmark.lone_update_seconds(Stub(), np.random.default_rng(0), batch=4, repeats=5, pause=0.04)
    assert slept == [0.04] * 5
    host_benchmark.lone_update_seconds(Stub(), np.random.default_rng(0), batch=4, repeats=2)
    assert len(slept) == 5  # back to back: no pause
    # one step's length, at most 0.25 s; as many repeats as steps, at least 3, beyond 3 at most 3 s of pauses
    assert host_benchmark.pause_plan(0.036, 82) == (82, 0.036)
    assert host_benchmark.pause_plan(0.158, 20) == (18, 0.158)
    assert host_benchmark.pause_plan(14.3, 3) == (3, 0.25)
    assert host_benchmark.pause_plan(0.01, 2) == (3, 0.01)


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


class ClockedTrainer:
    """A Trainer stand-in on a fake clock: step k takes step_seconds[k], of which weighting[k] is re-weighting."""

    def __init__(self, clock, step_seconds, weighting):
        self.clock, self.step_seconds, self.weighting = clock, step_seconds, weighting
        self.weighting_seconds, self.seen = 0.0, []

    def step(self, indices, epoch):
        k = len(self.seen)
        self.seen.append((indices, epoch))
        self.clock[0] += self.step_seconds[k]
        self.weighting_seconds += self.weighting[k]


def test_timed_steps_runs_at_least_the_steps_and_the_seconds_cycling_the_batches(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(host_benchmark.time, "perf_counter", lambda: clock[0])
    trainer = ClockedTrainer(clock, [0.5] * 20, [0.01 * (k + 1) for k in range(20)])
    steps, weighting = host_benchmark.timed_steps(trainer, ["a", "b", "c"], min_steps=2, min_seconds=2.2)
    # 2.2 s of 0.5 s steps: 5 steps (4 give only 2.0 s); the batches cycle a, b, c, a, b; all in stage 3
    assert trainer.seen == [("a", 3), ("b", 3), ("c", 3), ("a", 3), ("b", 3)]
    np.testing.assert_allclose(steps, [0.5] * 5)
    np.testing.assert_allclose(weighting, [0.01, 0.02, 0.03, 0.04, 0.05])  # each step's own part, not the total


def test_timed_steps_min_steps_wins_over_few_seconds_and_max_steps_caps_the_seconds(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(host_benchmark.time, "perf_counter", lambda: clock[0])
    trainer = ClockedTrainer(clock, [10.0] * 5, [0.0] * 5)
    assert len(host_benchmark.timed_steps(trainer, [0], min_steps=3, min_seconds=1.0)[0]) == 3
    trainer = ClockedTrainer(clock, [0.001] * 50, [0.0] * 50)
    assert len(host_benchmark.timed_steps(trainer, [0], min_steps=1, min_seconds=60.0, max_steps=7)[0]) == 7


def test_share_is_the_mean_of_each_steps_share_with_a_t_interval(monkeypatch):
    from scipy import stats

    step_seconds, weighting = [0.04, 0.05, 0.04, 0.06], [0.001, 0.002, 0.0008, 0.0012]
    shares = np.array(weighting) / np.array(step_seconds)
    monkeypatch.setattr(host_benchmark, "timed_steps", lambda *args: (np.array(step_seconds), np.array(weighting)))
    lone = []
    monkeypatch.setattr(host_benchmark, "lone_update_seconds", lambda *args: lone.append(args[3:]) or 0.0005)
    row = host_benchmark.reweighting_share("small_cnn", 3, 8, 4, steps=2, pool_size=8)
    assert lone[0] == (4,) and lone[1] == pytest.approx((4, 0.0475))  # back to back; then idle pauses of a step
    assert row["re-weighting ms back to back"] == row["re-weighting ms after an idle pause"] == pytest.approx(0.5)
    half = stats.t.ppf(0.975, 3) * shares.std(ddof=1) / 2
    assert row["steps"] == 4 and row["step ms"] == pytest.approx(47.5) and row["re-weighting ms"] == pytest.approx(1.25)
    assert row["re-weighting share"] == pytest.approx(shares.mean())
    assert (row["share low"], row["share high"]) == pytest.approx((shares.mean() - half, shares.mean() + half))
