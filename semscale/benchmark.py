"""Throughput measurements for experiments/bench_dsb.py: whole training epochs, timed in interleaved blocks.

pool_at_scale times one pool update plus weights at a Table 10 size (incremental against from scratch); the CPU-side
measurements (the re-weighting's share of a step, the host allocator) are in host_benchmark.py.
Only ratios within one run are reported (a shared machine's speed drifts): each block runs every loop once, in an
order that alternates block to block, and a ratio is taken per block. Work on a GPU is timed to its completion.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data import long_tailed_counts
from .engine.devices import AMP_DTYPES
from .engine.loader import epoch_order
from .pool import FeaturePool, weights_from_scratch
from .scales import distance_sums
from .stats import mean_interval


def synchronise(device) -> None:
    """Wait for a CUDA device's queued work (nothing to wait for on the host: device None or a CPU)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def host_syncs(work: Callable[[], object]) -> int | str:
    """How many operations in work() made the host wait for the GPU (torch.cuda's sync debug mode warns once per
    such operation): each stalls the queue of kernels, the cost a GPU pool update must avoid. Off CUDA: "no GPU"."""
    caught = _sync_warnings(work)
    return "no GPU" if caught is None else len(caught)


def _sync_warnings(work) -> list | None:
    if not torch.cuda.is_available():
        return None
    import warnings

    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            work()
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    return [warning for warning in caught if "synchroniz" in str(warning.message)]


def gpu_diagnosis(work: Callable[[], object], repeats: int = 3) -> str:
    """Where work() spends its time on a GPU, as text: the source lines that made the host wait (and how often),
    then torch.profiler's top operations by GPU and by CPU time over `repeats` calls. For the next optimisation of
    the pool on the device; diagnostics only, so a profiler failure is reported, not raised."""
    from collections import Counter

    caught = _sync_warnings(work)
    if caught is None:
        return "no GPU"
    sites = Counter(f"{Path(w.filename).parent.name}/{Path(w.filename).name}:{w.lineno}" for w in caught)
    lines = [f"{len(caught)} operations made the host wait for the GPU in one call:"]
    lines += [f"  {count:3d}  {site}" for site, count in sites.most_common()]
    try:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
            for _ in range(repeats):
                work()
            torch.cuda.synchronize()
        table = profiler.key_averages()
        lines += ["", f"torch.profiler over {repeats} calls, by GPU time:",
                  table.table(sort_by="cuda_time_total", row_limit=20, max_name_column_width=60),
                  "by CPU time:", table.table(sort_by="cpu_time_total", row_limit=15, max_name_column_width=60)]
    except Exception as error:  # noqa: BLE001 - a diagnosis must not stop the benchmark
        lines += ["", f"torch.profiler failed: {type(error).__name__}: {error}"]
    return "\n".join(lines) + "\n"


def trainer_epoch(trainer) -> float:
    """One more epoch of `trainer.fit()` (the real loop, nothing stubbed); its images per second."""
    trainer.config = dataclasses.replace(trainer.config, epochs=trainer.epoch + 1)
    return trainer.fit()[-1]["images_per_second"]


class BareLoop:
    """The reference a training engine is held to: a plain torchvision training loop (model, autocast, SGD step)
    over the same device-resident images, in the Trainer's order of batches (engine.loader.epoch_order, seed 0),
    with nothing else."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 amp: str, lr: float, momentum: float, weight_decay: float, channels_last: bool):
        self.model, self.images, self.labels, self.batch_size = model, images, labels, batch_size
        self.dtype = AMP_DTYPES.get(amp)
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.epoch = 0

    def __call__(self) -> float:
        """One epoch; images per second."""
        self.epoch += 1
        device = self.images.device
        order = epoch_order(len(self.labels), 0, self.epoch).to(device)
        self.model.train()
        synchronise(device)
        started = time.perf_counter()
        for indices in torch.split(order, self.batch_size):
            images = self.images[indices]
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype is not None):
                loss = torch.nn.functional.cross_entropy(self.model(images), self.labels[indices])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        synchronise(device)
        return len(self.labels) / (time.perf_counter() - started)


def interleaved(loops: dict[str, Callable[[], float]], blocks: int, warmup: int = 1) -> dict[str, np.ndarray]:
    """Each loop's images per second over `blocks` blocks (after `warmup` untimed ones); the loops' order is
    reversed every other block, so a drift of the machine's speed falls on all of them alike."""
    names = list(loops)
    rates = {name: [] for name in names}
    for block in range(warmup + blocks):
        for name in (names if block % 2 == 0 else names[::-1]):
            rate = loops[name]()
            if block >= warmup:
                rates[name].append(rate)
    return {name: np.array(values) for name, values in rates.items()}


def ratio_row(rates: dict[str, np.ndarray], loop: str, reference: str) -> dict:
    """The per-block ratio loop / reference: mean and 95% interval over blocks, and each one's median img/s."""
    ratios = rates[loop] / rates[reference]
    mean, low, high = mean_interval(ratios)
    return {"loop": loop, "reference": reference, "loop img/s": float(np.median(rates[loop])),
            "reference img/s": float(np.median(rates[reference])), "ratio": mean, "ratio low": low,
            "ratio high": high, "blocks": len(ratios)}


def pool_at_scale(name: str, num_classes: int, pool_size: int, batch: int, imbalance: float, steps: int,
                  baseline_steps: int, dim: int = 64, seed: int = 0, device=None, pool_class=FeaturePool) -> dict:
    """One pool update plus weights; `device` None: the host pool fed numpy, else the pool on that torch device
    fed tensors there (timed to the device's completion). pool_class: FeaturePool (what the Trainer uses on a CPU) or
    device_pool.DeviceFeaturePool (the update that reads nothing back: the Trainer's on a GPU, training_pool)."""
    rng = np.random.default_rng(seed)
    profile = np.array(long_tailed_counts(10_000, imbalance, num_classes), dtype=float)
    labels = rng.choice(num_classes, size=pool_size + steps * batch, p=profile / profile.sum())
    centres = rng.normal(size=(num_classes, dim)).astype(np.float32)
    features = centres[labels] + rng.normal(size=(len(labels), dim)).astype(np.float32)
    pool = pool_class(num_classes, dim, warmup_epochs=1, alpha=2.0, device=device)
    if device is not None:
        features, labels = torch.from_numpy(features).to(device), torch.from_numpy(labels).to(device)
    started = time.perf_counter()
    for start in range(0, pool_size, batch):  # stage 1: the first epoch fills the pool
        pool.update(features[start:start + batch], labels[start:start + batch], epoch=1)
    fill_seconds = time.perf_counter() - started
    incremental, floor, scratch, max_rel = [], [], [], 0.0
    # Untimed: the first call pays the page faults of its large temporaries (measured 1.5-2x the later calls).
    weights_from_scratch(*pool.contents(), num_classes, alpha=2.0)
    for step in range(steps):
        lo = pool_size + step * batch
        f, l = features[lo:lo + batch], labels[lo:lo + batch]
        synchronise(device)
        started = time.perf_counter()
        touched = pool.update(f, l, epoch=2)
        weights = pool.weights_tensor()
        synchronise(device)
        incremental.append(time.perf_counter() - started)
        weights = weights.cpu().numpy()
        # Floor: the work on the touched classes alone (their log-determinants and centre-distance rows).
        started = time.perf_counter()
        pool.moments.volumes(pool.scale, touched)
        distance_sums(pool.moments.means[touched], pool.moments.means[pool.present])
        synchronise(device)
        floor.append(time.perf_counter() - started)
        if step < baseline_steps:
            started = time.perf_counter()
            reference = weights_from_scratch(*pool.contents(), num_classes, alpha=2.0)
            scratch.append(time.perf_counter() - started)
            max_rel = max(max_rel, float(np.max(np.abs(weights - reference) / reference)))
    batch_again = slice(pool_size, pool_size + batch)

    def one_update():
        pool.update(features[batch_again], labels[batch_again], epoch=2)
        return pool.weights_tensor()

    syncs = host_syncs(one_update) if device is not None else None
    diagnosis = gpu_diagnosis(one_update) if device is not None and torch.device(device).type == "cuda" else None
    memory = pool.nbytes()
    paper_memory = len(pool) * dim * 4
    return {"size": name, "update": pool_class.__name__,
            "device": "host (numpy)" if device is None else str(device), "classes": num_classes,
            "pool": len(pool), "batch": batch,
            "incremental ms/step": 1000 * float(np.median(incremental)),
            "floor ms/step": 1000 * float(np.median(floor)),
            "from scratch ms/step": 1000 * float(np.median(scratch)),
            "speed-up": float(np.median(scratch) / np.median(incremental)),
            "speed-up at the floor": float(np.median(scratch) / np.median(floor)),
            "max relative weight difference": max_rel, "fill seconds": fill_seconds,
            "host syncs per update": "host pool" if syncs is None else syncs,
            "pool MiB": memory / 2**20, "paper float32 N x d MiB": paper_memory / 2**20,
            "memory ratio": memory / paper_memory, **({"diagnosis": diagnosis} if diagnosis else {})}
