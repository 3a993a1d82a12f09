"""Batches for training and evaluation: an order drawn from (seed, epoch) alone, each torchrun rank its share.

Every epoch's order is a permutation drawn from (seed, epoch); it is cut into global batches of `batch_size`, and
rank r of W takes the r-th of W contiguous chunks of each (so the pool, fed all ranks' chunks in rank order, sees
the global batches of a one-process run). Nothing depends on where a run stopped, which keeps resume exact.

Two sources behind one interface (`batches(epoch)` yields (images, labels) on the host, `len()` batches an epoch):
  InMemoryBatches   the small embedded sets: one float tensor (moved to the device once), indexed per batch;
                    the numbers of the original Trainer, bit for bit.
  StreamingBatches  any LabelledDataset through a DataLoader (worker processes, pinned memory, persistent workers).
                    Each sample's random augmentation is seeded from (seed, epoch, index), so the worker count and
                    a resume change nothing. Memory: one prefetched batch per worker, whatever the dataset size.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ..distributed import chunk_sizes

MASK64 = (1 << 64) - 1


def epoch_order(num_samples: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch `epoch` (from 1): a function of (seed, epoch) only."""
    return torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (SplitMix64 over the parts): independent streams per (seed, epoch, ...)."""
    state = 0x9E3779B97F4A7C15
    for part in parts:
        state = (state ^ (int(part) & MASK64)) * 0xBF58476D1CE4E5B9 & MASK64
        state = (state ^ (state >> 27)) * 0x94D049BB133111EB & MASK64
        state ^= state >> 31
    return state >> 1


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batch sampler: this rank's chunk of each global batch of epoch `set_epoch(e)`.

    With `seeded`, items are (index, seed of that sample's augmentation) for SeededSamples.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 seeded: bool = False):
        if batch_size < world_size:
            raise ValueError(f"batch_size {batch_size} is smaller than the {world_size} ranks sharing each batch")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.rank, self.world_size, self.seeded = rank, world_size, seeded
        self.epoch = 1
        self.order: torch.Tensor | None = None  # an explicit order (a method's per-class sampler), else epoch_order

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_order(self, order: torch.Tensor | None) -> None:
        """Use `order` (num_samples indices, drawn from (seed, epoch) by the caller) instead of the permutation."""
        if order is not None and len(order) != self.num_samples:
            raise ValueError(f"EpochBatchSampler.set_order: expected {self.num_samples} indices, got {len(order)}")
        self.order = order

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def global_batches(self, epoch: int) -> tuple[torch.Tensor, ...]:
        """Every rank's indices of each global batch of `epoch` (the explicit order when one is set for it)."""
        order = self.order if self.order is not None else epoch_order(self.num_samples, self.seed, epoch)
        return torch.split(order, self.batch_size)

    def rank_indices(self):
        """This rank's index tensors, one per global batch, for the current epoch."""
        for global_batch in self.global_batches(self.epoch):
            yield torch.tensor_split(global_batch, self.world_size)[self.rank] if self.world_size > 1 \
                else global_batch

    def __iter__(self):
        for indices in self.rank_indices():
            if self.seeded:
                yield [(i, derived_seed(self.seed, self.epoch, i)) for i in indices.tolist()]
            else:
                yield indices.tolist()

    def global_sizes(self) -> list[int]:
        """The length of each global batch of an epoch (the last one may be short)."""
        return [min(self.batch_size, self.num_samples - start) for start in range(0, self.num_samples,
                                                                                  self.batch_size)]

    def samples_this_rank(self) -> int:
        """How many samples this rank sees an epoch."""
        return sum(chunk_sizes(b, self.world_size)[self.rank] for b in self.global_sizes())


class SeededSamples(torch.utils.data.Dataset):
    """dataset[(index, seed)] = dataset[index] with torch's CPU generator seeded by `seed` for its transform."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, item):
        index, seed = item
        if torch.utils.data.get_worker_info() is not None:  # a worker's generator is its own
            torch.random.default_generator.manual_seed(seed)
            return self.dataset[index]
        with torch.random.fork_rng(devices=[]):  # in the main process: leave the training stream untouched
            torch.random.default_generator.manual_seed(seed)
            return self.dataset[index]


def resolve_workers(workers: int) -> int:
    """-1: min(8, CPUs - 1) loader processes; otherwise as given."""
    if workers >= 0:
        return workers
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def data_loader(dataset, device: torch.device, workers: int, batch_sampler=None, batch_size: int | None = None,
                persistent: bool = True):
    workers = resolve_workers(workers)
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=batch_sampler, batch_size=batch_size if batch_sampler is None else 1,
        shuffle=False, num_workers=workers, pin_memory=device.type == "cuda",
        persistent_workers=persistent and workers > 0, generator=torch.Generator(),  # not the global stream
        **({"prefetch_factor": 2} if workers > 0 else {}))


class InMemoryBatches:
    """Batches cut from one in-memory float tensor (N, C, H, W): the original Trainer's fast path."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, sampler: EpochBatchSampler,
                 device: torch.device):
        # On a GPU the small embedded sets live on the device once, so a batch is one gather, no copy.
        self.images = images.to(device) if device.type == "cuda" else images
        self.labels = labels.to(self.images.device)
        self.sampler = sampler

    def __len__(self) -> int:
        return len(self.sampler)

    def batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        for indices in self.sampler.rank_indices():
            indices = indices.to(self.images.device)
            yield self.images[indices], self.labels[indices]


class StreamingBatches:
    """Batches of any LabelledDataset (with its training transform) from a DataLoader kept across epochs."""

    def __init__(self, dataset, sampler: EpochBatchSampler, device: torch.device, workers: int):
        self.sampler = sampler
        self.loader = data_loader(SeededSamples(dataset), device, workers, batch_sampler=sampler)

    def __len__(self) -> int:
        return len(self.sampler)

    def batches(self, epoch: int):
        self.sampler.set_epoch(epoch)
        yield from self.loader


def evaluation_batches(source, batch_size: int, device: torch.device, workers: int = 0):
    """(images, labels or None) batches in dataset order: from a tensor/array of images or a LabelledDataset."""
    if isinstance(source, (torch.Tensor, np.ndarray)):
        images = source if isinstance(source, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(source))
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size], None
        return
    yield from data_loader(source, device, workers, batch_size=batch_size, persistent=False)
