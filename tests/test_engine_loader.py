"""The engine's batch order: a function of (seed, epoch) only, split across ranks; per-sample augmentation seeds."""
import numpy as np
import pytest
import torch

from semscale.data import ImageDataset
from semscale.engine.loader import (EpochBatchSampler, SeededSamples, StreamingBatches, derived_seed, epoch_order)


def batches(sampler, epoch):
    sampler.set_epoch(epoch)
    return [list(b) for b in sampler]


def test_order_depends_only_on_seed_and_epoch():
    a = EpochBatchSampler(103, 10, seed=4)
    b = EpochBatchSampler(103, 10, seed=4)
    batches(b, 7)  # b has lived through another epoch first: no state carries over
    assert batches(a, 2) == batches(b, 2)
    assert batches(a, 2) != batches(a, 3) and batches(a, 2) != batches(EpochBatchSampler(103, 10, seed=5), 2)
    flat = sum(batches(a, 2), [])
    assert sorted(flat) == list(range(103)) and len(batches(a, 2)) == 11 == len(a)
    # The permutation is torch.randperm with the documented (seed, epoch) generator seed.
    expected = torch.randperm(103, generator=torch.Generator().manual_seed(4 * 100_003 + 2)).tolist()
    assert flat == expected == epoch_order(103, 4, 2).tolist()


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_split_each_global_batch_in_rank_order(world_size):
    whole = batches(EpochBatchSampler(103, 10, seed=1), 5)
    shares = [batches(EpochBatchSampler(103, 10, seed=1, rank=r, world_size=world_size), 5)
              for r in range(world_size)]
    assert all(len(s) == len(whole) for s in shares)  # every rank steps the same number of times (DDP)
    for i, global_batch in enumerate(whole):
        chunks = [s[i] for s in shares]
        assert sum(chunks, []) == global_batch  # rank 0's chunk first, then rank 1's, ...
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    for r in range(world_size):
        sampler = EpochBatchSampler(103, 10, seed=1, rank=r, world_size=world_size)
        assert sampler.samples_this_rank() == sum(map(len, shares[r]))
        # every rank knows each whole global batch (Trainer.fit's host labels), without iterating
        assert [b.tolist() for b in sampler.global_batches(5)] == whole
        sampler.set_order(torch.arange(103).flip(0))  # a method's explicit order
        assert torch.cat(sampler.global_batches(5)).tolist() == list(range(102, -1, -1))
    # 10 = 4 + 3 + 3 for three ranks, and the last batch of 3 is 1 + 1 + 1.
    if world_size == 3:
        assert [len(shares[r][0]) for r in range(3)] == [4, 3, 3] and [len(shares[r][-1]) for r in range(3)] == [1] * 3


def test_batch_smaller_than_world_is_refused():
    with pytest.raises(ValueError, match="smaller than the 4 ranks"):
        EpochBatchSampler(10, 3, seed=0, rank=0, world_size=4)


def test_derived_seed_is_a_fixed_function_of_its_parts():
    # SplitMix64 finaliser applied by hand to one part (state = golden ^ part, then the three mixing rounds).
    mask = (1 << 64) - 1
    z = (0x9E3779B97F4A7C15 ^ 5) * 0xBF58476D1CE4E5B9 & mask
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & mask
    z ^= z >> 31
    assert derived_seed(5) == z >> 1
    seeds = {derived_seed(0, e, i) for e in range(1, 4) for i in range(200)}
    assert len(seeds) == 600 and all(0 <= s < 2**63 for s in seeds)
    assert derived_seed(1, 2) != derived_seed(2, 1)


class NoisyTransform:
    """A random transform drawing from torch's global generator, like torchvision's."""

    def __call__(self, image):
        return torch.as_tensor(image, dtype=torch.float32).permute(2, 0, 1) + torch.rand(1)


def tiny_set(n=40):
    rng = np.random.default_rng(0)
    return ImageDataset("tiny", rng.integers(0, 255, (n, 4, 4, 3), dtype=np.uint8), rng.integers(0, 3, n),
                        ["a", "b", "c"], "test").with_transform(NoisyTransform())


def epoch_batches(workers, epoch, seed=0):
    dataset = tiny_set()
    sampler = EpochBatchSampler(len(dataset), 8, seed, seeded=True)
    source = StreamingBatches(dataset, sampler, torch.device("cpu"), workers)
    return [(x.clone(), y.clone()) for x, y in source.batches(epoch)]


def test_augmentations_do_not_depend_on_workers_or_history():
    state = torch.random.get_rng_state()
    main = epoch_batches(0, epoch=2)
    assert torch.equal(torch.random.get_rng_state(), state)  # the main process's stream is left alone
    workers = epoch_batches(2, epoch=2)
    for (xa, ya), (xb, yb) in zip(main, workers, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # Another epoch draws another augmentation for every sample (matched by index through the epochs' orders).
    by_index = {}
    for epoch, batches_ in ((2, main), (3, epoch_batches(0, epoch=3))):
        images = torch.cat([x for x, _ in batches_])
        for position, index in enumerate(epoch_order(40, 0, epoch).tolist()):
            by_index.setdefault(index, []).append(images[position])
    assert all(not torch.equal(a, b) for a, b in by_index.values())
    base = torch.as_tensor(tiny_set().images[7], dtype=torch.float32).permute(2, 0, 1)
    assert all(torch.allclose(x - base, (x - base).flatten()[0].expand_as(x), atol=1e-4)
               for x in by_index[7])


def test_seeded_samples_draw_from_the_given_seed():
    dataset = SeededSamples(tiny_set())
    image, label = dataset[(3, 12345)]
    torch.manual_seed(12345)
    expected = torch.as_tensor(tiny_set().images[3], dtype=torch.float32).permute(2, 0, 1) + torch.rand(1)
    assert torch.equal(image, expected) and label == tiny_set().labels[3]
