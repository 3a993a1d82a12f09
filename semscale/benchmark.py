"""Throughput measurements for experiments/bench_dsb.py: whole training epochs, timed in interleaved blocks.

Only ratios within one run are reported (a shared machine's speed drifts): each block runs every loop once, in an
order that alternates block to block, and a ratio is taken per block. Work on a GPU is timed to its completion.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np
import torch

from .stats import mean_interval


def synchronise(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def trainer_epoch(trainer) -> float:
    """One more epoch of `trainer.fit()` (the real loop, nothing stubbed); its images per second."""
    trainer.config = dataclasses.replace(trainer.config, epochs=trainer.epoch + 1)
    return trainer.fit()[-1]["images_per_second"]


class BareLoop:
    """The reference a training engine is held to: a plain torchvision training loop (model, autocast, SGD step)
    over the same device-resident images, in the same order of batches, with nothing else."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 amp: str, lr: float, momentum: float, weight_decay: float, channels_last: bool):
        self.model, self.images, self.labels, self.batch_size = model, images, labels, batch_size
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        self.epoch = 0

    def __call__(self) -> float:
        """One epoch; images per second."""
        self.epoch += 1
        device = self.images.device
        order = torch.randperm(len(self.labels), generator=torch.Generator().manual_seed(self.epoch)).to(device)
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
