"""The one dataset interface everything downstream reads: a map-style torch Dataset of (image, label).

Labels, class names and counts are known without decoding a single image, so a training engine can build its
sampler, a pool its class count and `semscale measure` its plan before any I/O. Images are decoded lazily, one at
a time, by `load(i)`; `__getitem__` applies the transform hook (default: a float32 C x H x W tensor in [0, 1]).

Two kinds implement it:
  FileImageDataset   one image file per sample (ImageNet-LT lists, iNaturalist JSON, image folders, CUB, ...);
                     a corrupt or missing file raises CorruptImage naming the file and the line that listed it.
  ImageDataset       (in datasets.py) the small embedded sets held in memory as one array: the fast path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np


class DatasetNotFound(FileNotFoundError):
    """No local copy of a dataset and no way to download it."""


class DatasetLayoutError(ValueError):
    """A dataset's files are there but do not say what the loader expects (a bad line, a label out of range)."""


class CorruptImage(ValueError):
    """An image file that is missing or cannot be decoded."""


USER_FAULTS = (DatasetNotFound, DatasetLayoutError, CorruptImage)  # the user's to fix: a message, not a traceback


def error_text(error: BaseException) -> str:
    """An error's message for the user. A DataLoader worker's error comes back re-raised with torch's 'Caught X in
    DataLoader worker process N' and the worker's traceback in its message: only the worker's own message is kept."""
    text = str(error)
    marker = f"{type(error).__module__}.{type(error).__name__}: "
    if text.startswith("Caught ") and "Original Traceback" in text and marker in text:
        return text.rsplit(marker, 1)[1].strip()
    return text


GRAYSCALE_MODES = ("L", "1", "I;16", "I", "F", "LA")


def to_tensor01(image):
    """Default transform: PIL image or (H, W[, C]) array -> float32 (C, H, W) tensor in [0, 1]."""
    import torch

    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype != np.float32:
        array = array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class LabelledDataset:
    """Base of every dataset: `labels` (int64, one per sample), `classes` (names), `name`, `source`, `transform`.

    Subclasses implement `load(i)` (the decoded image, before the transform) and `_take(indices)` (a dataset of
    those samples, same kind). Subclassing torch's Dataset is not needed: DataLoader only uses __len__/__getitem__.
    """

    name: str
    classes: list
    labels: np.ndarray
    source: str
    transform: Callable | None = None
    mode: str = "RGB"                      # colour mode images are decoded in: "RGB" or "L"

    # ---- what every consumer may use without decoding
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.load(int(index))
        transform = self.transform or to_tensor01
        return transform(image), int(self.labels[index])

    def with_transform(self, transform: Callable | None):
        """The same samples with another transform (a shallow copy; the original keeps its own)."""
        import copy

        twin = copy.copy(self)
        twin.transform = transform
        return twin

    def in_mode(self, mode: str | None):
        """The same samples decoded in `mode` ("RGB" or "L"; None: unchanged). Images held in memory keep their
        channels: another mode is an error naming the dataset."""
        if mode and mode != self.mode:
            raise ValueError(f"--mode: {self.name} is held in memory with its native channels ({self.mode}); "
                             "leave --mode out")
        return self

    def subset(self, indices, name: str | None = None):
        """The samples at `indices`, same classes (labels are not renumbered), same transform."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"{self.name}: subset indices must lie in 0..{len(self) - 1}")
        twin = self._take(indices)
        twin.name = name or self.name
        return twin

    # ---- what a subclass provides
    def load(self, index: int):
        raise NotImplementedError

    def _take(self, indices: np.ndarray):
        raise NotImplementedError


def check_labels_in_range(labels, num_classes: int, where: Sequence[str] | None = None, name: str = "") -> None:
    """DatasetLayoutError naming the first label outside 0..num_classes-1 (and the file:line it came from)."""
    labels = np.asarray(labels)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(bad):
        first = int(bad[0])
        origin = f" ({where[first]})" if where is not None else ""
        raise DatasetLayoutError(f"{name}: label {int(labels[first])} of sample {first}{origin} is outside "
                                 f"0..{num_classes - 1}; fix the label or the class list")


class FileImageDataset(LabelledDataset):
    """One image file per sample, decoded on demand in `mode`.

    origins: optional, one string per sample saying where it was listed ("ImageNet_LT_train.txt:17"); errors about
    that sample quote it. extras: per-sample arrays (attributes, frequencies, ...) that subsets carry along.
    """

    def __init__(self, name: str, paths: Sequence, labels, classes: Sequence, source: str, mode: str = "RGB",
                 transform: Callable | None = None, origins: Sequence[str] | None = None, extras: dict | None = None):
        if mode not in ("RGB", "L"):
            raise ValueError(f"{name}: mode must be 'RGB' or 'L', got {mode!r}")
        self.name, self.source, self.mode, self.transform = name, str(source), mode, transform
        self.paths = [str(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        if len(self.paths) != len(self.labels):
            raise DatasetLayoutError(f"{name}: {len(self.paths)} paths but {len(self.labels)} labels")
        self.origins = list(origins) if origins is not None else None
        self.extras = dict(extras or {})
        check_labels_in_range(self.labels, len(self.classes), self.origins, name)

    def in_mode(self, mode: str | None):
        """The same files decoded in `mode` (a shallow copy; None or its own mode: this dataset)."""
        if not mode or mode == self.mode:
            return self
        if mode not in ("RGB", "L"):
            raise ValueError(f"{self.name}: mode must be 'RGB' or 'L', got {mode!r}")
        import copy

        twin = copy.copy(self)
        twin.mode = mode
        return twin

    def where(self, index: int) -> str:
        origin = f", listed at {self.origins[index]}" if self.origins else ""
        return f"{self.paths[index]}{origin}"

    def load(self, index: int):
        from PIL import Image, UnidentifiedImageError

        path = self.paths[index]
        try:
            with Image.open(path) as image:
                return image.convert(self.mode)
        except FileNotFoundError:
            raise CorruptImage(f"{self.name}: image file missing: {self.where(index)}; restore the file or remove "
                               "its line") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise CorruptImage(f"{self.name}: cannot decode {self.where(index)} ({type(error).__name__}: {error}); "
                               "replace or remove the file") from None

    def _take(self, indices):
        pick = indices.tolist()
        extras = {k: (v[indices] if isinstance(v, np.ndarray) and len(v) == len(self.labels) else v)
                  for k, v in self.extras.items()}
        return FileImageDataset(self.name, [self.paths[i] for i in pick], self.labels[indices], self.classes,
                                self.source, self.mode, self.transform,
                                [self.origins[i] for i in pick] if self.origins else None, extras)


def first_existing(candidates: Sequence[Path]) -> Path | None:
    return next((Path(c) for c in candidates if Path(c).exists()), None)
