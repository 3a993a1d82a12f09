"""CPU-side measurements for experiments/bench_dsb.py: the re-weighting's share of a training step per backbone,
and the host allocator's effect on a CPU step (each in fresh processes, glibc reads its thresholds per process).
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .benchmark import interleaved, ratio_row
from .engine import TrainConfig, Trainer
from .models import TORCHVISION_BACKBONES
from .stats import mean_interval


def reweighting_share(backbone: str, num_classes: int, image_size: int, batch: int, steps: int,
                      pool_size: int, min_seconds: float = 0.0) -> dict:
    """The re-weighting's share of a DSB-CE step with this backbone on tiny random images: the pool update and
    weights timed inside each step, as a fraction of it (after one untimed step); mean and 95% interval over at
    least `steps` steps and `min_seconds` of them (a cheap backbone gets many). The pool is filled with synthetic
    features first (its cost does not depend on their values) and the steps run in stage 3."""
    rng = np.random.default_rng(0)
    images = rng.random((batch * (steps + 1), image_size, image_size, 3), dtype=np.float32)
    labels = np.arange(len(images)) % num_classes
    # A small learning rate: with the default 0.01, VGG-16 (no batch norm) on random images soon gives features the
    # pool refuses as "not positive definite" (the same at 690f5da); the share needs steps, not learning.
    config = TrainConfig(backbone=backbone, weighting="dsb", warmup_epochs=1, batch_size=batch, width=32, seed=0,
                         lr=1e-4)
    trainer = Trainer(config, images, labels, num_classes, progress=False)
    fill_labels = rng.integers(0, num_classes, pool_size)
    for start in range(0, pool_size, batch):
        chunk = fill_labels[start:start + batch]
        trainer.pool.update(rng.normal(size=(len(chunk), trainer.pool.dim)) + chunk[:, None], chunk, epoch=1)
    batches = list(torch.split(torch.arange(len(images)), batch))
    trainer.step(batches[0], epoch=3)
    step_seconds, weighting_seconds = timed_steps(trainer, batches[1:], steps, min_seconds)
    share, low, high = mean_interval(weighting_seconds / step_seconds, bounds=(0.0, 1.0))
    return {"backbone": backbone, "image size": image_size, "batch": batch, "classes": num_classes,
            "steps": len(step_seconds), "step ms": 1000 * step_seconds.mean(),
            "re-weighting ms": 1000 * weighting_seconds.mean(),
            "re-weighting share": share, "share low": low, "share high": high,
            "re-weighting ms back to back": 1000 * lone_update_seconds(trainer, rng, batch, len(step_seconds)),
            "re-weighting ms after an idle pause": 1000 * lone_update_seconds(
                trainer, rng, batch, *pause_plan(step_seconds.mean(), len(step_seconds)))}


def pause_plan(step_seconds: float, steps: int, longest: float = 0.25, total: float = 3.0) -> tuple[int, float]:
    """(repeats, pause) for lone_update_seconds after an idle pause: one step's length (at most `longest` seconds),
    as many repeats as steps were timed but at least 3 and, beyond 3, no more than `total` seconds of pauses."""
    pause = min(float(step_seconds), longest)
    return max(3, min(steps, int(total / pause))), pause


def timed_steps(trainer, batches: list, min_steps: int, min_seconds: float, max_steps: int = 10_000) -> tuple:
    """Stage-3 Trainer.step over `batches`, cycled, until at least min_steps steps and min_seconds of them (at most
    max_steps); each step's seconds and the part of them the Trainer counted as re-weighting (weighting_seconds)."""
    step_seconds, weighting_seconds = [], []
    while len(step_seconds) < min_steps or (sum(step_seconds) < min_seconds and len(step_seconds) < max_steps):
        before, started = trainer.weighting_seconds, time.perf_counter()
        trainer.step(batches[len(step_seconds) % len(batches)], epoch=3)
        step_seconds.append(time.perf_counter() - started)
        weighting_seconds.append(trainer.weighting_seconds - before)
    return np.array(step_seconds), np.array(weighting_seconds)


def lone_update_seconds(trainer, rng, batch: int, repeats: int, pause: float = 0.0) -> float:
    """The median time of one pool update plus weights run alone: the same work as inside a step. With pause 0,
    back to back: caches and predictors warm. With a pause, after that many seconds idle (time.sleep), which
    touches none of the pool's data or code: if this time is close to the in-step one, what the in-step time adds
    to back to back is the cost of running the update once a step on this machine, not of what the backbone's
    forward and backward evicted in between."""
    seconds = []
    for _ in range(repeats):
        labels = rng.integers(0, trainer.pool.num_classes, batch)
        features = torch.from_numpy((rng.normal(size=(batch, trainer.pool.dim)) + labels[:, None]).astype(np.float32))
        if pause:
            time.sleep(pause)
        started = time.perf_counter()
        trainer._pool_update(features, torch.from_numpy(labels), 3)  # what Trainer.step calls
        trainer.weighting.class_weights(3)
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def allocator_probe(steps: int, batch: int) -> dict:
    """In this process: the quick small CNN's training steps on random 28 x 28 images (after 4 untimed steps that
    grow the heap to a step's peak); img/s and minor page faults per step. The Trainer sets the host allocator up
    (engine.devices.keep_freed_host_memory) unless SEMSCALE_MALLOC=default."""
    import resource

    images = np.random.default_rng(0).random((batch * (steps + 4), 28, 28, 1), dtype=np.float32)
    labels = np.arange(len(images)) % 10
    trainer = Trainer(TrainConfig(width=32, batch_size=batch, seed=0), images, labels, 10, progress=False)
    batches = list(torch.split(torch.arange(len(images)), batch))
    for indices in batches[:4]:
        trainer.step(indices, epoch=1)
    faults, started = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for indices in batches[4:]:
        trainer.step(indices, epoch=1)
    seconds = time.perf_counter() - started
    return {"img/s": steps * batch / seconds,
            "faults per step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps}


def allocator_run(steps: int, batch: int, glibc_default: bool, threads: int, faults: list) -> float:
    """allocator_probe in a fresh process (glibc reads its thresholds per process), with glibc's default allocator
    or the Trainer's; returns img/s and appends the faults per step to `faults`."""
    import json
    import os
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parent.parent)
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]  # no empty entry (= cwd)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
           "SEMSCALE_MALLOC": "default" if glibc_default else "", "SEMSCALE_THREADS": str(threads)}
    code = (f"import json; from semscale.host_benchmark import allocator_probe; "
            f"print(json.dumps(allocator_probe({steps}, {batch})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    faults.append(result["faults per step"])
    return result["img/s"]


def allocator_rows(cfg) -> list:
    """The host-allocator row: the quick CNN's img/s with the Trainer's heap settings against glibc's default
    (allocator_run, fresh processes in interleaved blocks) and each one's page faults per step."""
    spec = cfg["allocator"]
    faults = {"heap kept": [], "glibc default": []}
    loops = {name: partial(allocator_run, spec["steps"], spec["batch"], name == "glibc default",
                           cfg.get("threads", 2), faults[name]) for name in faults}
    rates = interleaved(loops, spec["blocks"], warmup=0)
    return [{**ratio_row(rates, "heap kept", "glibc default"), "steps": spec["steps"], "batch": spec["batch"],
             "heap kept faults/step": float(np.median(faults["heap kept"])),
             "glibc default faults/step": float(np.median(faults["glibc default"]))}]


def share_rows(cfg) -> list:
    """reweighting_share for each backbone the profile names ("all": the small CNN and every torchvision one)."""
    share = dict(cfg["share"])
    backbones = share.pop("backbones")
    if backbones == "all":
        backbones = ["small_cnn", *TORCHVISION_BACKBONES]
    return [reweighting_share(backbone, **share) for backbone in backbones]
