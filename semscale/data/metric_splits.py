"""The deep-metric-learning splits of App. D.5 and the long-tailed training sets of Fig. 8.

Metric learning trains on the first classes and tests on the remaining, unseen ones (Sec. 5.3, App. D.5):
    CUB-200-2011   classes 1-100 / 101-200        (cub-metric, in cub.py)
    Cars196        classes 1-98 / 99-196          (cars196-metric, in cars.py)
    CIFAR-100      classes 0-59 / 60-99, all 600 images a class (the train and test pickles together, as
                   App. D.5 counts "100 classes, each containing 600 images")       (cifar100-metric, here)
    Mini-ImageNet  the first 64 / last 36 classes (mini-imagenet-metric, in miniimagenet.py; class order there)
Each split is relabelled from 0 (the first test class is label 0 of the test split); extras['original_label']
keeps the label in the full dataset.

Long-tailed training sets (Fig. 8): n_i = N mu^(i / (1 - M)), i = 0..M-1 over the M training classes
(builders.long_tailed_counts), drawn with a seed; the test split is the balanced unseen classes, unchanged.
    cifar100-lt-metric   mu in {10, 50, 200} (Fig. 8a); N = 600, every class holding 600 images.
    cars196-lt-metric    mu in {10, 20, 50} (Fig. 8b, Table 8); N = the largest of the 98 training classes, each
                         n_i capped at the images its class has and kept at least 1 (classes hold 24-68 images,
                         so the pure profile may ask a class for more than it has; the cap is the one the LDAM
                         and GLT generators use). Pass n_max to choose N.
The seed, the factor and the index of every kept sample in the balanced split are recorded in extras
('subset_seed', 'imbalance', 'source_index'); the same seed gives the same subset.
"""
from __future__ import annotations

import numpy as np

from ._disk import relabel
from .builders import class_subset, long_tailed_counts, subset_with_counts
from .registry import register

# Number of training classes of each metric-learning split (App. D.5); the rest are the test classes.
METRIC_TRAIN_CLASSES = {"cub": 100, "cars196": 98, "cifar100": 60, "mini-imagenet": 64}
FIG8_FACTORS = {"cifar100": (10, 50, 200), "cars196": (10, 20, 50)}


def class_range_split(data, num_train_classes: int, split: str, name: str | None = None):
    """Train: classes 0..k-1 (labels kept); test: classes k..C-1 relabelled 0..C-k-1. Names follow the labels."""
    if not 0 < num_train_classes < data.num_classes:
        raise ValueError(f"{data.name}: {num_train_classes} training classes asked for, the dataset has "
                         f"{data.num_classes}")
    if split not in ("train", "test"):
        raise ValueError(f"{data.name}: a metric-learning split is 'train' or 'test', not {split!r}")
    chosen = range(num_train_classes) if split == "train" else range(num_train_classes, data.num_classes)
    indices, labels = class_subset(data.labels, list(chosen))
    return relabel(data, indices, labels, [data.classes[c] for c in chosen], name or f"{data.name}-{split}")


def long_tailed_train(train, imbalance: float, seed: int = 0, n_max: int | None = None, name: str | None = None):
    """Fig. 8's long-tailed training set drawn from a balanced metric `train` split (labels 0..M-1).

    n_i = N mu^(-i/(M-1)), capped at class i's size and at least 1; N = n_max or the largest class.
    """
    sizes = train.counts()
    n_max = int(sizes.max()) if n_max is None else int(n_max)
    wanted = np.asarray(long_tailed_counts(n_max, float(imbalance), train.num_classes))
    counts = np.clip(np.minimum(wanted, sizes), 1, None)
    kept = subset_with_counts(train.labels, counts, seed)
    subset = train.subset(kept, name=name or f"{train.name}-lt{imbalance:g}")
    subset.extras = dict(subset.extras, subset_seed=int(seed), imbalance=float(imbalance),
                         source_index=kept.astype(np.int64))
    return subset


def _check_factor(dataset: str, imbalance) -> float:
    if imbalance is None:
        raise ValueError(f"{dataset}: give imbalance=, one of Fig. 8's factors {FIG8_FACTORS[dataset]} (or any "
                         "factor >= 1)")
    return float(imbalance)


# ---------------------------------------------------------------- CIFAR-100 (in memory)

def cifar100_all(root=None, download=True):
    """CIFAR-100's 60,000 images (train pickle then test pickle), 600 a class, as one in-memory dataset."""
    from .datasets import ImageDataset, load_cifar100

    train, test = load_cifar100("train", root, download), load_cifar100("test", root, download)
    extras = {"coarse_labels": np.concatenate([train.extras["coarse_labels"], test.extras["coarse_labels"]]),
              "coarse_classes": train.extras.get("coarse_classes", [])}
    return ImageDataset("cifar100", np.concatenate([train.images, test.images]),
                        np.concatenate([train.labels, test.labels]), list(train.classes),
                        f"{train.source} (train + test pickles)", extras)


_CIFAR = dict(looks_for=("cifar-100-python",),
              published="www.cs.toronto.edu/~kriz/cifar.html (torchvision.datasets.CIFAR100 downloads it)")


@register("cifar100-metric", splits=("train", "test"), aliases=("cifar-100-metric",), **_CIFAR,
          description="CIFAR-100 metric-learning split (App. D.5): classes 0-59 train, 60-99 test, 600 images each")
def load_cifar100_metric(split="train", root=None, download=True):
    return class_range_split(cifar100_all(root, download), METRIC_TRAIN_CLASSES["cifar100"], split,
                             name=f"cifar100-metric-{split}")


@register("cifar100-lt-metric", splits=("train", "test"), aliases=("cifar-100-lt-metric",), **_CIFAR,
          description="Fig. 8a: long-tailed CIFAR-100 metric training set (load_dataset options: imbalance 10, 50 "
                      "or 200; seed), balanced 40-class test")
def load_cifar100_lt_metric(split="train", root=None, download=True, imbalance=None, seed=0, n_max=None):
    data = load_cifar100_metric(split, root, download)
    if split == "test":
        return data
    mu = _check_factor("cifar100", imbalance)
    return long_tailed_train(data, mu, seed, n_max, name=f"cifar100-lt{mu:g}-metric-train")


# ---------------------------------------------------------------- Cars196 (from cars.py)

def _cars_entry():
    from .cars import CARS_LOOKS_FOR, CARS_PUBLISHED

    return dict(looks_for=CARS_LOOKS_FOR, published=CARS_PUBLISHED)


@register("cars196-lt-metric", splits=("train", "test"), aliases=("cars-lt-metric",), **_cars_entry(),
          description="Fig. 8b / Table 8: long-tailed Cars196 metric training set over classes 1-98 "
                      "(load_dataset options: imbalance 10, 20 or 50; seed), test classes 99-196")
def load_cars196_lt_metric(split="train", root=None, download=True, imbalance=None, seed=0, n_max=None,
                           mode="RGB", transform=None):
    from .cars import load_cars196_metric

    data = load_cars196_metric(split, root, download, mode=mode, transform=transform)
    if split == "test":
        return data
    mu = _check_factor("cars196", imbalance)
    return long_tailed_train(data, mu, seed, n_max, name=f"cars196-lt{mu:g}-metric-train")
