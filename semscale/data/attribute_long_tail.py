"""An attribute-wise long-tailed benchmark built from any in-memory labelled set: the GLT protocols of Tang et al.
2022 (the GLT benchmark; paper App. H.3, Table 11) where the data carry no attribute annotation.

The rule, fixed and seeded (ImageNet-GLT's own pretext attributes are k-means clusters of each class's features;
here the sample space is the pixels, so the benchmark needs no trained model):
  1. Attributes. For every class c, k-means (k = `attributes`, scikit-learn, random_state = seed) on the flattened
     pixels of the class's samples in the source training split. Clusters are renumbered by size, largest first, so
     attribute 0 is the class's most frequent attribute. A sample of the source test split gets the cluster its own
     class's k-means assigns it (nearest centroid).
  2. Cell counts, all from the Fig. 8 profile `long_tailed_counts(n_head, imbalance, k)`:
       Train-GLT  class c keeps n(c, a) = long_tailed_counts(h_c, attribute_imbalance, k)[a] samples of attribute a,
                  h_c = long_tailed_counts(head, class_imbalance, C)[c]  (classes long-tailed in index order,
                  attributes long-tailed within each class);
       Train-CBL  every class long_tailed_counts(balanced_head, attribute_imbalance, k): classes balanced,
                  attributes long-tailed as in Train-GLT;
       Test-CBL   every class long_tailed_counts(test_head, attribute_imbalance, k): classes balanced, attributes
                  keep the training distribution (the benchmark's Test-CBL);
       Test-GBL   test_per_cell samples of every (class, attribute): balanced over both.
  3. Sampling: each cell's samples drawn without replacement from its (class, attribute) members, seeded; training
     sets come from the source training split, test sets from the source test split. Train-GLT and Train-CBL are
     separate draws (they may share images, as they serve separate protocols); so are Test-CBL and Test-GBL.
Protocols (semscale.data.glt.PROTOCOLS' pairing): CLT = Train-GLT on Test-CBL, GLT = Train-GLT on Test-GBL,
ALT = Train-CBL on Test-GBL. Every built set carries extras["attribute"]; training never reads it.
"""
from __future__ import annotations

import numpy as np

from .builders import long_tailed_counts

PROTOCOLS = {"CLT": ("train_glt", "test_cbl"), "GLT": ("train_glt", "test_gbl"), "ALT": ("train_cbl", "test_gbl")}


def _flat(images) -> np.ndarray:
    return np.asarray(images, dtype=np.float64).reshape(len(images), -1)


def fit_attributes(images, labels, attributes: int, seed: int) -> tuple[np.ndarray, dict]:
    """(attribute of every sample, {class: (fitted k-means, renumbering)}): step 1 of the module's rule."""
    from sklearn.cluster import KMeans

    flat, labels = _flat(images), np.asarray(labels)
    result, models = np.full(len(labels), -1, dtype=np.int64), {}
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < attributes:
            raise ValueError(f"fit_attributes: class {c} has {len(members)} samples, fewer than the {attributes} "
                             "attributes (clusters) asked for; lower `attributes`")
        model = KMeans(n_clusters=attributes, n_init=1, random_state=seed).fit(flat[members])
        sizes = np.bincount(model.labels_, minlength=attributes)
        rank = np.empty(attributes, dtype=np.int64)
        rank[np.argsort(-sizes, kind="stable")] = np.arange(attributes)   # largest cluster -> attribute 0
        models[int(c)] = (model, rank)
        result[members] = rank[model.labels_]
    return result, models


def assign_attributes(images, labels, models: dict) -> np.ndarray:
    """Each sample's attribute under its own class's k-means (nearest centroid), renumbered as in fit_attributes."""
    flat, labels = _flat(images), np.asarray(labels)
    result = np.full(len(labels), -1, dtype=np.int64)
    for c in np.unique(labels):
        if int(c) not in models:
            raise ValueError(f"assign_attributes: class {c} has no fitted attributes (absent from the fitting split)")
        model, rank = models[int(c)]
        members = np.flatnonzero(labels == c)
        result[members] = rank[model.predict(flat[members])]
    return result


def cell_counts(head_counts, attribute_imbalance: float, attributes: int) -> np.ndarray:
    """(C, k) samples per (class, attribute): class c's attributes follow the profile from head_counts[c] down."""
    return np.asarray([long_tailed_counts(int(h), attribute_imbalance, attributes) for h in head_counts],
                      dtype=np.int64)


def draw_cells(labels, attribute, counts: np.ndarray, seed: int, where: str = "") -> np.ndarray:
    """Sorted indices with counts[c, a] random samples of every (class c, attribute a), without replacement."""
    labels, attribute = np.asarray(labels), np.asarray(attribute)
    rng = np.random.default_rng(seed)
    kept = []
    for c in range(counts.shape[0]):
        for a in range(counts.shape[1]):
            members = np.flatnonzero((labels == c) & (attribute == a))
            if counts[c, a] > len(members):
                raise ValueError(f"{where}: class {c} attribute {a}: {counts[c, a]} samples asked for, the cluster "
                                 f"has {len(members)}; lower the head counts or the number of attributes")
            kept.append(rng.choice(members, size=int(counts[c, a]), replace=False))
    return np.sort(np.concatenate(kept)).astype(np.int64)


def benchmark_counts(num_classes: int, attributes: int, head: int, class_imbalance: float,
                     attribute_imbalance: float, balanced_head: int, test_head: int, test_per_cell: int) -> dict:
    """The (C, k) cell counts of the four sets (step 2 of the module's rule)."""
    glt_heads = long_tailed_counts(head, class_imbalance, num_classes)
    return {"train_glt": cell_counts(glt_heads, attribute_imbalance, attributes),
            "train_cbl": cell_counts([balanced_head] * num_classes, attribute_imbalance, attributes),
            "test_cbl": cell_counts([test_head] * num_classes, attribute_imbalance, attributes),
            "test_gbl": np.full((num_classes, attributes), int(test_per_cell), dtype=np.int64)}


def attribute_long_tailed_benchmark(train, test, attributes: int = 4, head: int = 200, class_imbalance: float = 10.0,
                                    attribute_imbalance: float = 10.0, balanced_head: int | None = None,
                                    test_head: int = 100, test_per_cell: int = 50, seed: int = 0) -> dict:
    """{"train_glt", "train_cbl", "test_cbl", "test_gbl"}: subsets of the in-memory `train` / `test` datasets with
    extras["attribute"]; balanced_head defaults to the mean of Train-GLT's head-attribute counts, so that Train-CBL
    is about as large as Train-GLT. Pair them by PROTOCOLS."""
    if train.classes != test.classes:
        raise ValueError(f"attribute_long_tailed_benchmark: {train.name} and {test.name} have different classes")
    train_attr, models = fit_attributes(train.images, train.labels, attributes, seed)
    test_attr = assign_attributes(test.images, test.labels, models)
    if balanced_head is None:
        balanced_head = int(round(np.mean(long_tailed_counts(head, class_imbalance, train.num_classes))))
    counts = benchmark_counts(train.num_classes, attributes, head, class_imbalance, attribute_imbalance,
                              balanced_head, test_head, test_per_cell)
    sources = {"train_glt": (train, train_attr), "train_cbl": (train, train_attr), "test_cbl": (test, test_attr),
               "test_gbl": (test, test_attr)}
    sets = {}
    for offset, (name, (source, attribute)) in enumerate(sources.items()):
        kept = draw_cells(source.labels, attribute, counts[name], seed + offset, where=f"{source.name} -> {name}")
        part = source.subset(kept, name=f"{source.name}-{name.replace('_', '-')}")
        part.extras = {**part.extras, "attribute": attribute[kept]}
        sets[name] = part
    return sets
