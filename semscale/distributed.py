"""torchrun / DistributedDataParallel helpers: every rank sees the global batch in the pool.

Each global batch is cut into WORLD_SIZE equal contiguous chunks, rank r trains on chunk r, and the pooled
features of all chunks are gathered in rank order, so every rank's pool (and so its DSB weights) equals that of
one process fed the global batches.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(backend: str | None = None) -> bool:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1); returns whether it is distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return dist.is_available() and dist.is_initialized()
    dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return True


def chunk_sizes(global_size: int, size: int) -> list[int]:
    """The sizes of torch.tensor_split(global batch of global_size, size): the first global_size mod size chunks
    hold one more."""
    return [global_size // size + (r < global_size % size) for r in range(size)]


def rank_chunk(indices: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous share of a global batch of indices (sizes differ by at most one)."""
    rank, size = world()
    return torch.tensor_split(indices, size)[rank] if size > 1 else indices


def gather_batch(features: torch.Tensor, labels: torch.Tensor,
                 global_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All ranks' (features, labels) concatenated in rank order; unequal chunk sizes are padded and trimmed.

    With `global_size` (the global batch's length, which every rank knows from the sampler) the chunk sizes are
    computed, not exchanged: on GPUs, reading exchanged sizes back would make the host wait for the device every step.
    """
    rank, size = world()
    if size == 1:
        return features, labels
    if global_size is None:
        count = torch.tensor([len(labels)], device=features.device)
        counts = [torch.zeros_like(count) for _ in range(size)]
        dist.all_gather(counts, count)
        keep = [int(c.item()) for c in counts]
    else:
        keep = chunk_sizes(global_size, size)
        if keep[rank] != len(labels):
            raise ValueError(f"gather_batch: rank {rank} holds {len(labels)} samples, but its share of a global "
                             f"batch of {global_size} over {size} ranks is {keep[rank]}")
    pad = max(keep) - len(labels)
    padded_f = torch.cat([features, features.new_zeros(pad, features.shape[1])])
    padded_l = torch.cat([labels, labels.new_zeros(pad)])
    all_f = [torch.empty_like(padded_f) for _ in range(size)]
    all_l = [torch.empty_like(padded_l) for _ in range(size)]
    dist.all_gather(all_f, padded_f.contiguous())
    dist.all_gather(all_l, padded_l.contiguous())
    return (torch.cat([f[:k] for f, k in zip(all_f, keep)]), torch.cat([l[:k] for l, k in zip(all_l, keep)]))
