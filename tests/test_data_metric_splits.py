"""App. D.5's metric-learning splits of CIFAR-100 and Fig. 8's long-tailed training sets (CIFAR-100, Cars196)."""
import math

import numpy as np
import pytest

from miniature_metric import cars_counts, grey_of, make_cars_mat, make_cifar100_balanced
from semscale.data import load_dataset


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    return make_cifar100_balanced(tmp_path_factory.mktemp("cifar"), train_per_class=16, test_per_class=4)


def test_cifar100_metric_split_uses_all_images_first_60_then_40(cifar_root):
    train = load_dataset("cifar100-metric", "train", root=cifar_root, download=False)
    test = load_dataset("cifar100-metric", "test", root=cifar_root, download=False)
    assert train.counts().tolist() == [20] * 60 and test.counts().tolist() == [20] * 40
    assert train.classes == [f"f{i}" for i in range(60)] and test.classes == [f"f{i}" for i in range(60, 100)]
    first = int(np.flatnonzero(test.labels == 0)[0])
    image, label = test[first]                                 # CIFAR class 60 is label 0 of the test split
    assert label == 0 and abs(float(image.mean()) * 255 - grey_of(60)) < 1e-3
    assert test.extras["original_label"][first] == 60


def _profile(n_max, mu, m):
    """n_i = N mu^(i/(1-M)) (Fig. 8's caption), floored, at least one image a class."""
    return [max(1, math.floor(n_max * mu ** (i / (1 - m)))) for i in range(m)]


@pytest.mark.parametrize("mu", [10, 50, 200])
def test_cifar100_long_tailed_train_follows_fig8(cifar_root, mu):
    balanced = load_dataset("cifar100-metric", "train", root=cifar_root, download=False)
    lt = load_dataset("cifar100-lt-metric", "train", root=cifar_root, download=False, imbalance=mu, seed=5)
    assert lt.counts().tolist() == _profile(20, mu, 60)
    assert lt.extras["subset_seed"] == 5 and lt.extras["imbalance"] == mu
    assert np.array_equal(lt.labels, balanced.labels[lt.extras["source_index"]])
    same = load_dataset("cifar100-lt-metric", "train", root=cifar_root, download=False, imbalance=mu, seed=5)
    other = load_dataset("cifar100-lt-metric", "train", root=cifar_root, download=False, imbalance=mu, seed=6)
    assert np.array_equal(same.extras["source_index"], lt.extras["source_index"])
    assert not np.array_equal(other.extras["source_index"], lt.extras["source_index"])
    test = load_dataset("cifar100-lt-metric", "test", root=cifar_root, download=False, imbalance=mu)
    assert test.counts().tolist() == [20] * 40


def test_long_tailed_needs_a_factor(cifar_root):
    with pytest.raises(ValueError, match=r"imbalance=.*\(10, 50, 200\)"):
        load_dataset("cifar100-lt-metric", "train", root=cifar_root, download=False)


def test_cars196_long_tailed_train_caps_at_class_size(tmp_path):
    make_cars_mat(tmp_path)
    sizes = cars_counts()[:98]
    lt = load_dataset("cars196-lt-metric", "train", root=tmp_path, imbalance=20, seed=1)
    want = [min(size, n) for size, n in zip(sizes, _profile(max(sizes), 20, 98))]
    assert lt.counts().tolist() == want and lt.extras["subset_seed"] == 1
    assert lt.classes[0] == "Make 1 Model 2001" and lt.num_classes == 98
    test = load_dataset("cars196-lt-metric", "test", root=tmp_path, imbalance=20)
    assert test.counts().tolist() == cars_counts()[98:]
    wide = load_dataset("cars196-lt-metric", "train", root=tmp_path, imbalance=10, n_max=1)
    assert wide.counts().tolist() == [1] * 98
