"""Named training sets (semscale.sets.named_set): class counts against the paper's profiles, typed here from the
paper (Table 7; the exponential profile of App. D.5), subsets that keep each image with its label, and alpha."""
import numpy as np
import pytest

import semscale.sets as sets
from semscale.data import ImageDataset

PER_CLASS = 6000  # above every count asked for below (MNIST-LT's largest is 5,923)
# Table 7 of the paper, typed from the paper
MNIST_LT1 = [5923, 3590, 2940, 2518, 2256, 1972, 1700, 1300, 1100, 900]
MNIST_LT2 = [5923, 3090, 2540, 1818, 1356, 972, 484, 272, 122, 74]


@pytest.fixture
def fake_base(monkeypatch):
    """A 10-class base set whose image i holds the number i, so a subset shows which samples it kept."""
    calls = []

    def load_dataset(name, split, root=None):
        calls.append((name, split, root))
        counts = [PER_CLASS + 7 * c for c in range(10)]  # unequal, so "the smallest class" matters
        labels = np.repeat(np.arange(10), counts)
        order = np.random.default_rng(0).permutation(len(labels))  # classes interleaved, as in a real set
        labels = labels[order]
        images = np.arange(len(labels), dtype=np.float32).reshape(-1, 1, 1, 1)
        return ImageDataset(name, images, labels, [str(c) for c in range(10)], "test")

    monkeypatch.setattr(sets, "load_dataset", load_dataset)
    return calls


def kept_indices(subset):
    return subset.images[:, 0, 0, 0].astype(np.int64)


def assert_pairs_kept(subset, base_labels):
    kept = kept_indices(subset)
    assert len(set(kept.tolist())) == len(kept), "a sample kept twice"
    np.testing.assert_array_equal(subset.labels, base_labels[kept])


def base_labels(fake_base, name="mnist"):
    return sets.load_dataset(name, "train").labels


def test_plain_name_is_the_whole_training_set_with_alpha_1(fake_base):
    data, alpha = sets.named_set("fashion-mnist")
    assert fake_base[0][:2] == ("fashion-mnist", "train")
    assert len(data) == sum(PER_CLASS + 7 * c for c in range(10)) and alpha == 1.0


@pytest.mark.parametrize("imbalance", [100, 10])
def test_lt_follows_the_exponential_profile_with_alpha_2(fake_base, imbalance):
    """n_i = floor(n_max * imbalance^(-i / (C - 1))), n_max = the smallest class's size (App. D.5)."""
    data, alpha = sets.named_set("fashion-mnist-lt", imbalance=imbalance)
    assert fake_base[0][0] == "fashion-mnist" and alpha == 2.0
    expected = [int(np.floor(PER_CLASS * imbalance ** (-i / 9))) for i in range(10)]
    assert expected[0] == PER_CLASS and expected[-1] == PER_CLASS // imbalance
    np.testing.assert_array_equal(np.bincount(data.labels, minlength=10), expected)
    assert_pairs_kept(data, base_labels(fake_base))
    assert data.name.endswith(f"-lt{imbalance}")


@pytest.mark.parametrize("kind, counts", [("lt1", MNIST_LT1), ("lt2", MNIST_LT2)])
def test_table7_sets_have_the_papers_counts(fake_base, kind, counts):
    data, alpha = sets.named_set(f"mnist-table7-{kind}")
    assert fake_base[0][0] == "mnist" and alpha == 2.0
    np.testing.assert_array_equal(np.bincount(data.labels, minlength=10), counts)
    assert_pairs_kept(data, base_labels(fake_base))


def test_balanced_sets_are_nested_and_balanced_with_alpha_1(fake_base):
    small, alpha = sets.named_set("cifar10-balanced50")
    large, _ = sets.named_set("cifar10-balanced200")
    assert fake_base[0][0] == "cifar10" and alpha == 1.0
    np.testing.assert_array_equal(np.bincount(small.labels), [50] * 10)
    np.testing.assert_array_equal(np.bincount(large.labels), [200] * 10)
    assert set(kept_indices(small).tolist()) <= set(kept_indices(large).tolist())  # Table 6: nested subsets
    assert_pairs_kept(large, base_labels(fake_base, "cifar10"))


def test_sets_are_the_same_every_time(fake_base):
    for spec in ("mnist-lt", "mnist-table7-lt2", "mnist-balanced30"):
        first, second = sets.named_set(spec)[0], sets.named_set(spec)[0]
        np.testing.assert_array_equal(kept_indices(first), kept_indices(second))


def test_lt_keeps_a_random_sample_not_the_first_ones(fake_base):
    data, _ = sets.named_set("mnist-lt")
    labels = base_labels(fake_base)
    first_of_class = [np.flatnonzero(labels == c)[:n] for c, n in enumerate(np.bincount(data.labels))]
    assert not np.array_equal(np.sort(np.concatenate(first_of_class)), np.sort(kept_indices(data)))


@pytest.mark.parametrize("spec", ["mnist-LT", "mnist lt", "mnist_lt", ""])
def test_a_malformed_name_says_what_is_expected(fake_base, spec):
    with pytest.raises(ValueError, match="expected <dataset>"):
        sets.named_set(spec)


def test_an_unknown_suffix_is_an_unknown_dataset_named_in_the_error(tmp_path):
    with pytest.raises(ValueError, match="mnist-lt3"):
        sets.named_set("mnist-lt3", root=tmp_path)
