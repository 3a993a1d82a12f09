"""Input checks shared by every measure: one place that turns arrays or tensors into float64 numpy.

Bad input raises ValueError naming the argument, row or class at fault and what to do about it.
"""
from __future__ import annotations

import numpy as np


def to_numpy(array, name: str) -> np.ndarray:
    """Numpy view of a numpy array, a list, or a torch tensor on any device (detached, moved to the CPU)."""
    if hasattr(array, "detach") and hasattr(array, "cpu"):
        array = array.detach().cpu().numpy()
    try:
        return np.asarray(array)
    except Exception as error:  # ragged lists and the like
        raise ValueError(f"{name}: cannot be read as an array ({error})") from error


def check_features(features, name: str = "features") -> np.ndarray:
    """Samples as rows, a 2-D finite float array; returned as float64."""
    features = to_numpy(features, name)
    if features.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array with one sample per row, got shape {features.shape}; "
            "reshape a single sample with x[None, :] or flatten images with x.reshape(len(x), -1)"
        )
    if not np.issubdtype(features.dtype, np.number) or np.issubdtype(features.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected real numbers, got dtype {features.dtype}")
    features = features.astype(np.float64, copy=False)
    finite = np.isfinite(features)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"{name}: {len(bad_rows)} row(s) contain NaN or Inf (first rows: {bad_rows[:5].tolist()}); "
            "drop or repair those samples before measuring"
        )
    return features


def check_labels(labels, num_samples: int | None = None, num_classes: int | None = None,
                 name: str = "labels") -> np.ndarray:
    """Integer class labels in [0, num_classes); returned as int64."""
    labels = to_numpy(labels, name)
    if labels.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of integer class labels, got shape {labels.shape}")
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"{name}: expected integer class labels, got dtype {labels.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        if labels.size and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
            bad = np.flatnonzero(~(np.isfinite(labels) & (labels == np.round(labels))))
            raise ValueError(
                f"{name}: labels must be whole numbers; position {int(bad[0])} holds {labels[bad[0]].item()!r}"
            )
    labels = labels.astype(np.int64)
    if num_samples is not None and len(labels) != num_samples:
        raise ValueError(f"{name}: {len(labels)} labels for {num_samples} samples; give one label per row")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name}: negative label {int(labels.min())}; labels must be 0..C-1")
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"{name}: label {int(labels.max())} is out of range for num_classes={num_classes}; "
            "labels must be 0..num_classes-1"
        )
    return labels


def check_labelled(features, labels, num_classes: int | None = None, allow_empty_classes: bool = False):
    """Checked (features float64, labels int64, C). Every class 0..C-1 must have a sample unless allowed."""
    features = check_features(features)
    labels = check_labels(labels, num_samples=len(features), num_classes=num_classes)
    if len(labels) == 0:
        raise ValueError("features: no samples given")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    if not allow_empty_classes:
        counts = np.bincount(labels, minlength=num_classes)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            raise ValueError(
                f"class {int(empty[0])} has no samples ({len(empty)} empty class(es): {empty[:10].tolist()}); "
                "remove it from num_classes, relabel the classes to 0..C-1, or add samples"
            )
    return features, labels, num_classes
