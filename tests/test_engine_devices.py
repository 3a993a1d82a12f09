"""Device plumbing on the CPU: device choice, LOCAL_RANK, amp, channels-last, threads, config keys, and the
streaming path giving the in-memory path's numbers."""
import numpy as np
import pytest
import torch

from semscale.data import LabelledDataset, load_dataset
from semscale.engine import devices
from semscale.engine.config import TrainConfig
from semscale.train import Trainer

TINY = dict(width=4, epochs=2, batch_size=128, warmup_epochs=1, weighting="dsb", seed=3, threads=1)


def test_auto_is_cpu_without_cuda_and_cuda_without_it_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="has no CUDA device"):
        devices.resolve_device("cuda")
    with pytest.raises(ValueError, match="expected auto, cpu, cuda or cuda:N"):
        devices.resolve_device("tpu")


def test_auto_takes_the_local_rank_gpu(monkeypatch):
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert devices.resolve_device("auto") == torch.device("cuda:3") == chosen[-1]
    assert devices.resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match="only 4 CUDA devices"):
        devices.resolve_device("cuda:4")


def test_threads_from_config_then_environment(monkeypatch):
    monkeypatch.delenv("SEMSCALE_THREADS", raising=False)
    assert devices.thread_count(0) == 0 and devices.thread_count(2) == 2
    monkeypatch.setenv("SEMSCALE_THREADS", "3")
    assert devices.thread_count(0) == 3 and devices.thread_count(5) == 5
    monkeypatch.setenv("SEMSCALE_THREADS", "many")
    with pytest.raises(ValueError, match="SEMSCALE_THREADS='many'"):
        devices.thread_count(0)


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled")
def test_amp_and_channels_last_rules():
    cpu, gpu = torch.device("cpu"), torch.device("cuda:0")
    with pytest.raises(ValueError, match="'fp16' needs a CUDA device"):
        devices.check_amp("fp16", cpu)
    devices.check_amp("bf16", cpu)
    assert devices.grad_scaler(cpu, "bf16") is None and devices.grad_scaler(cpu, "off") is None
    assert isinstance(devices.grad_scaler(gpu, "fp16"), torch.amp.GradScaler)
    assert [devices.use_channels_last("auto", d, a) for d, a in [(cpu, "bf16"), (gpu, "off"), (gpu, "bf16")]] == \
        [False, False, True]
    assert devices.use_channels_last("on", cpu, "off") and not devices.use_channels_last("off", gpu, "fp16")
    with pytest.raises(ValueError, match=r"TrainConfig.amp = 'fp8'"):
        TrainConfig(amp="fp8")
    with pytest.raises(ValueError, match="task 'classification'"):
        TrainConfig(mix="mixup", task="metric")


def test_keys_of_configs_written_before_the_engine_are_unchanged():
    # Hashes printed by the Trainer of commit 690f5da (before the engine fields existed).
    assert TrainConfig().key() == "dd4a6192e97bbfcf"
    assert TrainConfig(width=4, epochs=3, batch_size=128, warmup_epochs=1, weighting="dsb", seed=3,
                       loss_options={"gamma": 2.0}).key() == "456e0af6a898cad2"
    assert TrainConfig(workers=5).key() == TrainConfig().key()  # loader processes cannot change a result
    assert TrainConfig(amp="bf16").key() != TrainConfig().key() != TrainConfig(device="cpu").key()


class Streamed(LabelledDataset):
    """An in-memory set seen through the generic interface only: forces the DataLoader path."""

    def __init__(self, dataset):
        self.inner, self.name, self.labels, self.classes = dataset, dataset.name, dataset.labels, dataset.classes
        self.source, self.mode = dataset.source, dataset.mode

    def load(self, index):
        return self.inner.images[index]


@pytest.mark.parametrize("workers", [0, 2])
def test_streaming_path_gives_the_in_memory_numbers(workers):
    train = load_dataset("digits", "train")
    config = TrainConfig(**TINY, workers=workers)
    memory = Trainer(config, train.images, train.labels, 10, progress=False)
    streamed = Trainer(config, Streamed(train), progress=False)
    assert memory.images is not None and streamed.images is None
    a, b = memory.fit(), streamed.fit()
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    np.testing.assert_array_equal(memory.pool.weights(), streamed.pool.weights())
    for p, q in zip(memory.network.parameters(), streamed.network.parameters()):
        assert torch.equal(p, q)


def test_bf16_autocast_trains_on_the_cpu():
    train = load_dataset("digits", "train")
    plain = Trainer(TrainConfig(**TINY), train, progress=False)
    mixed = Trainer(TrainConfig(**TINY, amp="bf16"), train, progress=False)
    a, b = plain.fit(), mixed.fit()
    assert np.isfinite([r["loss"] for r in b]).all() and a[0]["loss"] != b[0]["loss"]  # autocast was active
    assert abs(a[-1]["loss"] - b[-1]["loss"]) < 0.1 * a[-1]["loss"]  # and it still learns the same thing
    assert np.isfinite(mixed.pool.weights()).all()


def test_a_gpu_run_gets_the_sync_free_pool_and_a_cpu_run_the_numpy_pool():
    from semscale.device_pool import DeviceFeaturePool, training_pool
    from semscale.pool import NUMPY

    host = training_pool(10, 64, device=torch.device("cpu"))
    assert type(host).__name__ == "FeaturePool" and host.ops is NUMPY
    # "meta": a non-CPU device whose tensors hold no data (this machine has no GPU); what a cuda device gets
    assert isinstance(training_pool(10, 64, device="meta"), DeviceFeaturePool)
    assert isinstance(training_pool(10, 64, device=torch.device("meta")), DeviceFeaturePool)


def _device_pool_trainer(monkeypatch, config, train):
    """A Trainer whose pool is the one a GPU run builds (DeviceFeaturePool, torch float64), here on the CPU."""
    from semscale.device_pool import DeviceFeaturePool
    from semscale.engine import trainer as trainer_module

    def gpu_pool(num_classes, dim, warmup_epochs, alpha, device=None):
        return DeviceFeaturePool(num_classes, dim, warmup_epochs, alpha, device=device)

    monkeypatch.setattr(trainer_module, "training_pool", gpu_pool)
    trainer = Trainer(config, train, progress=False)
    assert isinstance(trainer.pool, DeviceFeaturePool)
    return trainer


def test_the_gpu_runs_pool_inside_training_matches_the_numpy_pool(monkeypatch):
    """The pool a GPU run uses, driven by the Trainer on the CPU: it receives the detached device tensors and gives
    the numpy pool's weights and losses."""
    train = load_dataset("digits", "train")
    host = Trainer(TrainConfig(**TINY), train, progress=False)
    host.fit()
    device = _device_pool_trainer(monkeypatch, TrainConfig(**TINY), train)
    device.fit()
    np.testing.assert_allclose(device.pool.weights(), host.pool.weights(), rtol=1e-6)
    assert [r["loss"] for r in device.history] == pytest.approx([r["loss"] for r in host.history], rel=1e-6)


def test_a_dsb_step_with_the_gpu_runs_pool_reads_nothing_back(monkeypatch):
    """Stage 3 (pool updated, weights applied): forward, pool update, weights, loss and backward queue on the
    device without one host read, so a GPU never waits for the host inside a step. The optimizer's step is torch's
    and is let through: on a CPU its single-tensor Adam reads its step counter, a host tensor on a GPU too (not a
    device synchronisation)."""
    train = load_dataset("digits", "train")
    trainer = _device_pool_trainer(monkeypatch, TrainConfig(**TINY), train)
    trainer.fit()   # two epochs: warmup_epochs=1, so epoch 3 is stage 3
    epoch = TINY["epochs"] + 1
    assert trainer.pool.stage(epoch) == 3 and trainer.pool.reweighting(epoch)
    images, labels = trainer.images[:64], trainer.labels[:64]
    before = trainer.pool.weights()

    in_optimizer = []
    optimizer_step = trainer.optimizer.step

    def step_with_reads(*args, **kwargs):
        in_optimizer.append(True)
        try:
            return optimizer_step(*args, **kwargs)
        finally:
            in_optimizer.pop()

    trainer.optimizer.step = step_with_reads
    originals = {name: getattr(torch.Tensor, name) for name in
                 ("item", "__bool__", "__int__", "__float__", "tolist", "numpy", "nonzero", "__index__")}

    def forbidden(name):
        def read(*args, **kwargs):
            if not in_optimizer:
                raise AssertionError(f"a host read (Tensor.{name}) inside a DSB training step")
            return originals[name](*args, **kwargs)
        return read

    def refused(*args, **kwargs):
        raise AssertionError("a data-dependent shape inside a DSB training step")

    with monkeypatch.context() as patch:
        for name in originals:
            patch.setattr(torch.Tensor, name, forbidden(name))
        patch.setattr(torch, "nonzero", refused)
        patch.setattr(torch, "unique", refused)
        loss, outputs, _ = trainer.train_step(images, labels, epoch)
    assert np.isfinite(float(loss)) and not np.array_equal(trainer.pool.weights(), before)  # the step ran


def test_sync_batchnorm_on_cpus_is_refused_with_the_reason():
    train = load_dataset("digits", "train")
    trainer = Trainer(TrainConfig(**TINY, sync_bn=True), train, progress=False)  # one process: no DDP, no SyncBN
    with pytest.raises(ValueError, match="SyncBatchNorm runs on CUDA devices only"):
        trainer._distribute(trainer.network)


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return 1


def test_cpu_runs_keep_freed_memory_in_the_heap_and_gpu_runs_leave_malloc(monkeypatch):
    import ctypes

    libc = _FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    monkeypatch.delenv("SEMSCALE_MALLOC", raising=False)
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda *a, **k: None)
    devices.configure_runtime(torch.device("cuda"), deterministic=True)
    assert libc.calls == []
    devices.configure_runtime(torch.device("cpu"), deterministic=True)
    # malloc.h: M_MMAP_THRESHOLD = -3 at glibc's 64-bit maximum of 32 MiB, M_TRIM_THRESHOLD = -1 at 1 GiB
    assert sorted(libc.calls) == [(-3, 32 * 1024 * 1024), (-1, 1024 ** 3)]
    libc.calls.clear()
    monkeypatch.setenv("SEMSCALE_MALLOC", "default")
    assert devices.keep_freed_host_memory() is False and libc.calls == []


def test_without_glibc_the_allocator_is_left_alone(monkeypatch):
    import ctypes

    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    monkeypatch.delenv("SEMSCALE_MALLOC", raising=False)
    assert devices.keep_freed_host_memory() is False

