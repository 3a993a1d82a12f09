"""semscale.benchmark: the interleaving of timed loops, the per-block ratio, the host-sync counter, whole epochs."""
import warnings

import numpy as np
import pytest
import torch

from semscale import benchmark


def test_interleaved_drops_warmup_and_reverses_the_order_every_other_block():
    calls = []

    def loop(name, rates):
        values = iter(rates)

        def run():
            calls.append(name)
            return next(values)
        return run

    rates = benchmark.interleaved({"a": loop("a", [99, 1, 2, 3]), "b": loop("b", [98, 10, 20, 30])}, blocks=3)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]  # block 0 (warm-up) a b, then b a, a b, b a
    assert rates["a"].tolist() == [1, 2, 3] and rates["b"].tolist() == [10, 20, 30]


def test_ratio_row_is_the_mean_of_per_block_ratios_with_a_t_interval():
    rates = {"loop": np.array([2.0, 3.0, 4.0]), "ref": np.array([4.0, 4.0, 4.0])}
    row = benchmark.ratio_row(rates, "loop", "ref")
    ratios = np.array([0.5, 0.75, 1.0])
    half = 4.302652729911275 * ratios.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert row["ratio"] == pytest.approx(0.75)
    assert row["ratio low"] == pytest.approx(0.75 - half) and row["ratio high"] == pytest.approx(0.75 + half)
    assert row["loop img/s"] == 3.0 and row["reference img/s"] == 4.0 and row["blocks"] == 3


def test_host_syncs_counts_the_sync_warnings_of_the_work_only(monkeypatch):
    modes = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)

    def work():
        for _ in range(3):
            warnings.warn("called a synchronizing CUDA operation", UserWarning)
        warnings.warn("an unrelated warning", UserWarning)

    assert benchmark.host_syncs(work) == 3
    assert modes == ["warn", 0]  # the previous mode is restored


def test_host_syncs_without_cuda_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert benchmark.host_syncs(lambda: None) == "no GPU"


def test_trainer_epoch_runs_one_more_epoch_of_fit_each_call():
    from semscale.train import TrainConfig, Trainer

    rng = np.random.default_rng(0)
    images, labels = rng.random((32, 8, 8, 1), dtype=np.float32), np.arange(32) % 4
    trainer = Trainer(TrainConfig(width=4, batch_size=16, epochs=5, device="cpu"), images, labels, 4,
                      progress=False)
    first = benchmark.trainer_epoch(trainer)
    second = benchmark.trainer_epoch(trainer)
    assert trainer.epoch == 2 and len(trainer.history) == 2 and first > 0 and second > 0
    assert second == trainer.history[-1]["images_per_second"]


def test_gpu_diagnosis_names_the_lines_that_made_the_host_wait(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", lambda mode: None)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *device: None)

    def work():
        for _ in range(2):
            warnings.warn("called a synchronizing CUDA operation", UserWarning)  # the line named below
        warnings.warn("called a synchronizing CUDA operation", UserWarning)

    text = benchmark.gpu_diagnosis(work, repeats=1)
    line = work.__code__.co_firstlineno + 2
    assert text.startswith("3 operations made the host wait")
    assert f"    2  tests/test_benchmark.py:{line}" in text and f"    1  tests/test_benchmark.py:{line + 1}" in text
