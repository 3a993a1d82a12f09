"""The attribute-wise long-tailed benchmark (semscale/data/attribute_long_tail.py) against hand counts on a set whose
pixel clusters are known: attributes found and renumbered largest first, cells long-tailed as documented, test sets
balanced as each GLT protocol requires, deterministic by seed."""
import numpy as np
import pytest

from semscale.data.attribute_long_tail import (PROTOCOLS, attribute_long_tailed_benchmark, benchmark_counts,
                                               cell_counts)
from semscale.data.datasets import ImageDataset

# Training-split blob sizes per class (3 pixel clusters a class); every test blob has 20 samples.
TRAIN_BLOBS = {0: (30, 60, 45), 1: (50, 40, 70), 2: (45, 35, 55)}
# Hand renumbering, largest training blob first: RANK[c][blob] = attribute.
RANK = {0: (2, 0, 1), 1: (1, 2, 0), 2: (1, 2, 0)}


def blob_set(name, sizes_by_class, seed):
    """4 x 4 grey images: blob b of class c lights pixel 3c + b (far apart), plus 1% noise; extras['blob'] its id."""
    rng = np.random.default_rng(seed)
    images, labels, blobs = [], [], []
    for c, sizes in sizes_by_class.items():
        for b, size in enumerate(sizes):
            pattern = np.zeros(16)
            pattern[3 * c + b] = 1.0
            images.append(pattern + rng.normal(0, 0.01, (size, 16)))
            labels += [c] * size
            blobs += [b] * size
    images = np.concatenate(images).reshape(-1, 4, 4).astype(np.float32)
    return ImageDataset(name, images, np.asarray(labels), ["a", "b", "c"], "test", extras={"blob": np.asarray(blobs)})


@pytest.fixture(scope="module")
def sources():
    return blob_set("blobs-train", TRAIN_BLOBS, 0), blob_set("blobs-test", {c: (20, 20, 20) for c in range(3)}, 1)


def hand_cells(part):
    """(3, 3) samples per (class, attribute) from each sample's true blob and the hand renumbering."""
    cells = np.zeros((3, 3), dtype=int)
    for label, blob in zip(part.labels, part.extras["blob"]):
        cells[label, RANK[int(label)][int(blob)]] += 1
    return cells


OPTIONS = dict(attributes=3, head=24, class_imbalance=4.0, attribute_imbalance=4.0, test_head=8, test_per_cell=5)
# Hand counts. Train-GLT: heads 24, 24 / 4^(1/2) = 12, 24 / 4 = 6; each head h spreads over attributes as
# h, h / 2, h / 4 (floors). Train-CBL: head round(mean(24, 12, 6)) = 14 -> 14, 7, 3. Test-CBL: 8, 4, 2 every class.
EXPECTED = {"train_glt": [[24, 12, 6], [12, 6, 3], [6, 3, 1]],
            "train_cbl": [[14, 7, 3]] * 3,
            "test_cbl": [[8, 4, 2]] * 3,
            "test_gbl": [[5, 5, 5]] * 3}


def test_cell_counts_by_hand():
    assert cell_counts([100, 10], 10.0, 3).tolist() == [[100, 31, 10], [10, 3, 1]]
    counts = benchmark_counts(3, 3, 24, 4.0, 4.0, 14, 8, 5)
    assert {k: v.tolist() for k, v in counts.items()} == EXPECTED


def test_every_set_has_the_documented_cells_and_attributes(sources):
    sets = attribute_long_tailed_benchmark(*sources, seed=0, **OPTIONS)
    assert set(sets) == {"train_glt", "train_cbl", "test_cbl", "test_gbl"}
    for name, part in sets.items():
        assert hand_cells(part).tolist() == EXPECTED[name], name
        hand = [RANK[int(c)][int(b)] for c, b in zip(part.labels, part.extras["blob"])]
        assert part.extras["attribute"].tolist() == hand, name
    # Training sets come from the training split, test sets from the test split.
    for name, part in sets.items():
        assert part.name == ("blobs-train-" if name.startswith("train") else "blobs-test-") + name.replace("_", "-")
    # Protocol pairing of the GLT benchmark.
    assert PROTOCOLS == {"CLT": ("train_glt", "test_cbl"), "GLT": ("train_glt", "test_gbl"),
                         "ALT": ("train_cbl", "test_gbl")}


def test_balance_each_protocol_requires(sources):
    sets = attribute_long_tailed_benchmark(*sources, seed=0, **OPTIONS)
    # Train-GLT long-tailed over classes (42, 21, 10) and over attributes within each class.
    assert sets["train_glt"].counts().tolist() == [42, 21, 10]
    # Train-CBL and Test-CBL balanced over classes, long-tailed over attributes; Test-GBL balanced over both.
    for name in ("train_cbl", "test_cbl", "test_gbl"):
        assert len(set(sets[name].counts().tolist())) == 1, name
    assert len(set(hand_cells(sets["test_gbl"]).ravel())) == 1
    assert all(row[0] > row[-1] for row in hand_cells(sets["test_cbl"]))


def test_deterministic_by_seed(sources):
    first = attribute_long_tailed_benchmark(*sources, seed=0, **OPTIONS)
    again = attribute_long_tailed_benchmark(*sources, seed=0, **OPTIONS)
    other = attribute_long_tailed_benchmark(*sources, seed=1, **OPTIONS)
    for name in first:
        assert np.array_equal(first[name].images, again[name].images), name
    assert not np.array_equal(first["train_glt"].images, other["train_glt"].images)
    assert hand_cells(other["train_glt"]).tolist() == EXPECTED["train_glt"]   # a new draw, the same cells


def test_a_cell_too_small_is_named(sources):
    with pytest.raises(ValueError, match=r"blobs-test -> test_gbl: class 0 attribute 0: 21 samples asked for, "
                                         r"the cluster has 20"):
        attribute_long_tailed_benchmark(*sources, seed=0, **{**OPTIONS, "test_per_cell": 21})
    with pytest.raises(ValueError, match="fewer than the 200 attributes"):
        attribute_long_tailed_benchmark(*sources, seed=0, **{**OPTIONS, "attributes": 200})
