"""The two-line API: per-class N, E_n, volume, S', W', W, S, rank and head/middle/tail splits of a labelled set.

    from semscale import measure
    table = measure(features, labels, alpha=1.0)     # or measure_dataset(load_dataset("fashion-mnist"))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .moments import ClassMoments
from .sample_space import sample_vectors
from .scales import SemanticScales, effective_number, semantic_scales, split_by_count, split_by_scale
from .validation import check_labelled
from .volume import resolve_scale

COLUMNS = ["class", "name", "N", "E_n", "volume", "S_prime", "W_prime", "W", "S", "rank", "split_by_count",
           "split_by_scale"]


@dataclass
class ScaleTable:
    """Per-class semantic scales of one labelled set, with how they were measured."""

    name: str
    space: str
    class_names: list
    counts: np.ndarray
    effective: np.ndarray
    scales: SemanticScales
    scale_s: float
    beta: float
    dim: int
    centres: np.ndarray

    def with_alpha(self, alpha: float) -> SemanticScales:
        """The same volumes and centres with another alpha."""
        return semantic_scales(self.scales.volume, self.centres, alpha)

    @property
    def rank(self) -> np.ndarray:
        """1 for the class with the largest S; ties by class index."""
        order = np.lexsort((np.arange(len(self.counts)), -self.scales.s))
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(1, len(order) + 1)
        return rank

    def rows(self) -> list[dict]:
        by_count, by_scale, rank = split_by_count(self.counts), split_by_scale(self.scales.s), self.rank
        sc = self.scales
        return [{"class": c, "name": self.class_names[c], "N": int(self.counts[c]), "E_n": self.effective[c],
                 "volume": sc.volume[c], "S_prime": sc.s_prime[c], "W_prime": sc.w_prime[c], "W": sc.w[c],
                 "S": sc.s[c], "rank": int(rank[c]), "split_by_count": by_count[c], "split_by_scale": by_scale[c]}
                for c in range(len(self.counts))]

    def weakest(self, k: int = 3) -> list:
        """Names of the k classes with the smallest S, smallest first."""
        return [self.class_names[c] for c in np.argsort(self.scales.s, kind="stable")[:k]]

    def settings(self) -> dict:
        return {"dataset": self.name, "space": self.space, "dim": self.dim, "scale_s": self.scale_s,
                "alpha": self.scales.alpha, "beta": self.beta}


def table_from_moments(moments: ClassMoments, alpha: float = 1.0, scale: float | None = None,
                       beta: float = 0.9999, class_names=None, name: str = "", space: str = "feature") -> ScaleTable:
    empty = np.flatnonzero(moments.counts == 0)
    if len(empty):
        label = class_names[empty[0]] if class_names else empty[0]
        raise ValueError(f"class {label!r} has no samples; drop it or add samples before measuring")
    scale_s = resolve_scale(scale, moments.dim)
    scales = semantic_scales(moments.volumes(scale_s), moments.means, alpha)
    names = list(class_names) if class_names is not None else [str(c) for c in range(moments.num_classes)]
    if len(names) != moments.num_classes:
        raise ValueError(f"class_names: {len(names)} names for {moments.num_classes} classes")
    return ScaleTable(name, space, names, moments.counts.astype(int), effective_number(moments.counts, beta),
                      scales, scale_s, beta, moments.dim, moments.means.copy())


def measure(features, labels, num_classes: int | None = None, class_names=None, alpha: float = 1.0,
            scale: float | None = None, beta: float = 0.9999, name: str = "", space: str = "feature") -> ScaleTable:
    """Semantic scales of features (samples as rows; numpy or torch) with integer labels 0..C-1."""
    features, labels, num_classes = check_labelled(features, labels, num_classes)
    moments = ClassMoments.from_data(features, labels, num_classes)
    return table_from_moments(moments, alpha, scale, beta, class_names, name, space)


def measure_dataset(dataset, alpha: float = 1.0, scale: float | None = None, beta: float = 0.9999,
                    chunk: int = 8192, progress: bool = False) -> ScaleTable:
    """Sample-space scales (Alg. 1: 16 x 16, native channels, [0, 1]) streamed through mergeable moments."""
    from tqdm.auto import tqdm

    moments = None
    starts = range(0, len(dataset.labels), chunk)
    for start in tqdm(starts, desc=f"measuring {dataset.name}", unit="chunk", disable=not progress):
        vectors = sample_vectors(dataset.images[start:start + chunk])
        if moments is None:
            moments = ClassMoments(dataset.num_classes, vectors.shape[1])
        moments.add(vectors, dataset.labels[start:start + chunk])
    return table_from_moments(moments, alpha, scale, beta, dataset.classes, dataset.name, "sample")
