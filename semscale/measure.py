"""The two-line API: per-class N, E_n, volume, S', W', W, S, rank and head/middle/tail splits of a labelled set.

    from semscale import measure
    table = measure(features, labels, alpha=1.0)     # or measure_dataset(load_dataset("fashion-mnist"))

measure_dataset streams any LabelledDataset (in memory or image files) through Alg. 1's sample space into
ClassMoments, in blocks of classes when all C x d x d scatters would exceed a memory budget.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from .moments import ClassMoments
from .sample_space import SAMPLE_SIZE, sample_vectors
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
    check_no_empty_class(moments.counts, class_names)
    scale_s = resolve_scale(scale, moments.dim)
    return table_from_parts(moments.counts, moments.volumes(scale_s), moments.means, scale_s, alpha, beta,
                            class_names, name, space)


def check_no_empty_class(counts, class_names=None) -> None:
    empty = np.flatnonzero(np.asarray(counts) == 0)
    if len(empty):
        label = class_names[empty[0]] if class_names else empty[0]
        raise ValueError(f"class {label!r} has no samples; drop it or add samples before measuring")


def table_from_parts(counts, volumes, means, scale_s: float, alpha: float = 1.0, beta: float = 0.9999,
                     class_names=None, name: str = "", space: str = "feature") -> ScaleTable:
    """A ScaleTable from per-class counts, volumes (Eq. 3 with s = scale_s) and centres (C, d)."""
    counts, means = np.asarray(counts), np.asarray(means)
    scales = semantic_scales(np.asarray(volumes), means, alpha)
    names = list(class_names) if class_names is not None else [str(c) for c in range(len(counts))]
    if len(names) != len(counts):
        raise ValueError(f"class_names: {len(names)} names for {len(counts)} classes")
    return ScaleTable(name, space, names, counts.astype(int), effective_number(counts, beta),
                      scales, scale_s, beta, means.shape[1], means.copy())


def measure(features, labels, num_classes: int | None = None, class_names=None, alpha: float = 1.0,
            scale: float | None = None, beta: float = 0.9999, name: str = "", space: str = "feature") -> ScaleTable:
    """Semantic scales of features (samples as rows; numpy or torch) with integer labels 0..C-1."""
    features, labels, num_classes = check_labelled(features, labels, num_classes)
    moments = ClassMoments.from_data(features, labels, num_classes)
    return table_from_moments(moments, alpha, scale, beta, class_names, name, space)


def measure_dataset(dataset, alpha: float = 1.0, scale: float | None = None, beta: float = 0.9999,
                    chunk: int = 8192, progress: bool = False, memory_budget="4GB", workers: int | None = None,
                    batch_size: int = 64) -> ScaleTable:
    """Sample-space scales (Alg. 1: 16 x 16, native channels, [0, 1]) of any LabelledDataset, in bounded memory.

    Images stream into ClassMoments (their labels are known without decoding), `chunk` rows at a time. The
    C x d x d float64 scatters of all classes may exceed `memory_budget` (4.7 GB for 1,000 classes at d = 768),
    so classes are measured in blocks, one block a pass; a pass decodes only its own classes' images, so every
    image is decoded exactly once whatever the number of passes. Files are decoded by `workers` DataLoader
    processes (None: up to 8 for file datasets, none for in-memory ones); a progress bar counts images.
    """
    from tqdm.auto import tqdm

    check_no_empty_class(dataset.counts(), dataset.classes)
    dim = SAMPLE_SIZE * SAMPLE_SIZE * dataset.channels
    scale_s = resolve_scale(scale, dim)
    plan = plan_class_blocks(dataset.num_classes, dim, parse_bytes(memory_budget), chunk)
    if len(plan.blocks) > 1:
        print(f"semscale: {dataset.num_classes} classes x {dim}-d scatters need "
              f"{format_bytes(dataset.num_classes * plan.bytes_per_class)}; measuring {len(plan.blocks)} blocks of "
              f"<= {len(plan.blocks[0])} classes under a memory budget of {format_bytes(plan.budget)}",
              file=sys.stderr)
    counts, means = np.zeros(dataset.num_classes), np.zeros((dataset.num_classes, dim))
    volumes = np.zeros(dataset.num_classes)
    # closed on an error too, so that the error is printed on a line of its own
    with tqdm(total=len(dataset), desc=f"measuring {dataset.name}", unit="img", disable=not progress) as bar:
        for number, block in enumerate(plan.blocks, 1):
            bar.set_postfix_str(f"classes {block[0]}-{block[-1]}, pass {number}/{len(plan.blocks)}")
            local = np.full(dataset.num_classes, -1)
            local[block] = np.arange(len(block))
            moments = ClassMoments(len(block), dim)
            indices = np.flatnonzero(local[dataset.labels] >= 0)
            for vectors, labels in _sample_chunks(dataset, indices, plan.chunk, workers, batch_size):
                _add_by_pieces(moments, vectors, local[labels], plan.piece)
                bar.update(len(labels))
            for start in range(0, len(block), plan.piece):    # a few scatters at a time: the volumes copy them
                piece = np.arange(start, min(start + plan.piece, len(block)))
                volumes[block[piece]] = moments.volumes(scale_s, piece)
            counts[block], means[block] = moments.counts, moments.means
            del moments
    return table_from_parts(counts, volumes, means, scale_s, alpha, beta, dataset.classes, dataset.name, "sample")


# ---------------------------------------------------------------- streaming in blocks of classes

@dataclass
class BlockPlan:
    blocks: list            # arrays of class indices, one per pass
    piece: int              # classes added (and their volumes taken) together: bounds the temporaries
    chunk: int              # rows streamed into the moments at a time
    bytes_per_class: int
    budget: int


def plan_class_blocks(num_classes: int, dim: int, budget: int, chunk: int) -> BlockPlan:
    """Contiguous blocks of classes whose moments, with the temporaries of one chunk, fit in `budget` bytes."""
    per_class = 8 * (dim * dim + 2 * dim + 1)                 # scatter, mean, centre copy, count
    chunk = int(max(64, min(chunk, budget // (4 * 8 * 3 * dim))))   # rows take at most a quarter of the budget
    rows = 8 * 3 * chunk * dim                                # the chunk, its sorted copy, its centred copy
    piece = int(min(16, num_classes, max(1, (budget - rows) // (4 * per_class))))
    capacity = (budget - rows - 3 * piece * per_class) // per_class   # group scatters, their stack, the update
    if capacity < 1:
        raise ValueError(f"memory budget {format_bytes(budget)} is too small for one class at d = {dim}: it needs "
                         f"{format_bytes(per_class * (1 + 3 * piece) + rows)}; raise --memory-budget")
    size = int(min(capacity, num_classes))
    blocks = [np.arange(start, min(start + size, num_classes)) for start in range(0, num_classes, size)]
    return BlockPlan(blocks, piece, chunk, per_class, budget)


def _add_by_pieces(moments: ClassMoments, vectors: np.ndarray, labels: np.ndarray, piece: int) -> None:
    """moments.add, a few classes at a time: a chunk holding many classes would otherwise build one d x d
    temporary per class at once. Each class's moments are updated on their own, so the result is the same."""
    present = np.unique(labels)
    for start in range(0, len(present), piece):
        rows = np.isin(labels, present[start:start + piece])
        moments.add(vectors[rows] if len(present) > piece else vectors, labels[rows])


def sample_vector(image) -> torch.Tensor:
    """DataLoader transform: one decoded image (PIL or array) -> its Alg. 1 sample vector (float64)."""
    return torch.from_numpy(sample_vectors(np.asarray(image)[None])[0])


def _sample_chunks(dataset, indices: np.ndarray, chunk: int, workers, batch_size: int):
    """(vectors, labels) of the samples at `indices`, `chunk` rows at a time, in index order."""
    images = getattr(dataset, "images", None)
    if isinstance(images, np.ndarray):                        # in memory: vectorised, no loader
        for start in range(0, len(indices), chunk):
            pick = indices[start:start + chunk]
            yield sample_vectors(images[pick]), dataset.labels[pick]
        return
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    loader = DataLoader(dataset.subset(indices).with_transform(sample_vector), batch_size=batch_size,
                        num_workers=workers if len(indices) > batch_size else 0, shuffle=False)
    buffer, labels, filled = None, np.empty(chunk, dtype=np.int64), 0
    for vectors, batch_labels in loader:
        if buffer is None:
            buffer = np.empty((chunk, vectors.shape[1]))
        taken = 0
        while taken < len(batch_labels):
            step = min(chunk - filled, len(batch_labels) - taken)
            buffer[filled:filled + step] = vectors[taken:taken + step].numpy()
            labels[filled:filled + step] = batch_labels[taken:taken + step].numpy()
            filled, taken = filled + step, taken + step
            if filled == chunk:
                yield buffer, labels
                filled = 0
    if filled:
        yield buffer[:filled], labels[:filled]


UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20,
         "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_bytes(value) -> int:
    """'4GB', '512 MiB', '2e9' or a number of bytes -> bytes."""
    if isinstance(value, (int, float)):
        return int(value)
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in UNITS:
        raise ValueError(f"memory budget {value!r}: expected a size such as 4GB, 512MB or 8GiB")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def format_bytes(count: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{int(count)} B"
