"""Image folders (ImageFolder layout, path/<class>/<image>) streamed lazily through FileImageDataset.

Every image is decoded in one colour mode: the caller's, or by default the majority mode over ALL images, read
from the file headers only (PIL opens lazily), and announced on stderr. The old reader chose from the first 50
files, so a folder whose later images were in colour was measured in grey without a word (issue 12).
"""
from __future__ import annotations

import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .base import GRAYSCALE_MODES, CorruptImage, DatasetLayoutError, FileImageDataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder` (recursively), in a deterministic sorted order."""
    found = []
    for directory, subdirs, names in os.walk(folder, followlinks=True):
        subdirs.sort()
        found += [Path(directory) / n for n in sorted(names) if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    return found


def scan_class_folders(path) -> tuple[list[str], list[Path], np.ndarray]:
    """(class names = sorted sub-folder names, image files, labels) of an ImageFolder layout."""
    path = Path(path)
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")) if path.is_dir() else []
    if not class_dirs:
        raise DatasetLayoutError(f"{path}: expected one sub-folder per class (ImageFolder layout), found none")
    files, labels = [], []
    for label, folder in enumerate(class_dirs):
        members = image_files(folder)
        if not members:
            raise DatasetLayoutError(f"class {folder.name!r}: no images in {folder} (suffixes "
                                     f"{sorted(IMAGE_SUFFIXES)}); add images or remove the folder")
        files += members
        labels += [label] * len(members)
    return [d.name for d in class_dirs], files, np.asarray(labels, dtype=np.int64)


def header_mode(path) -> str:
    """'L' or 'RGB': the mode an image file decodes to natively, from its header (no pixel data is read)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return "L" if image.mode in GRAYSCALE_MODES else "RGB"
    except FileNotFoundError:
        raise CorruptImage(f"image file missing: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorruptImage(f"cannot read the header of {path} ({type(error).__name__}: {error}); replace or remove "
                           "the file") from None


def majority_mode(files, threads: int = 8) -> tuple[str, Counter]:
    """The mode most images have (ties go to RGB: converting grey to colour loses nothing) and the tally.
    Headers only, in threads; a progress bar on stderr for folders of more than 10,000 images."""
    from tqdm.auto import tqdm

    with ThreadPoolExecutor(threads) as pool:
        modes = pool.map(header_mode, files, chunksize=256)
        tally = Counter(tqdm(modes, total=len(files), desc="reading image headers", unit="img",
                             disable=len(files) <= 10_000))
    return ("L" if tally["L"] > tally["RGB"] else "RGB"), tally


def image_folder(path, mode: str | None = None, transform=None, name: str | None = None,
                 announce: bool = True) -> FileImageDataset:
    """An ImageFolder layout as a lazy FileImageDataset; mode 'RGB', 'L' or None (majority, announced)."""
    path = Path(path)
    classes, files, labels = scan_class_folders(path)
    if mode is None:
        mode, tally = majority_mode(files)
        if announce:
            print(f"semscale: {path}: {tally['RGB']} colour and {tally['L']} grey images; decoding all as "
                  f"{'grey (L)' if mode == 'L' else 'colour (RGB)'}, the majority (choose with --mode RGB|L)",
                  file=sys.stderr)
    elif mode not in ("RGB", "L"):
        raise ValueError(f"mode: 'RGB' or 'L' (or None for the majority of the folder), got {mode!r}")
    return FileImageDataset(name or path.name, files, labels, classes, str(path), mode, transform)


def stack_resized(dataset: FileImageDataset, image_size: int) -> np.ndarray:
    """All images of a (small) dataset decoded, resized to image_size x image_size and stacked as (N, H, W, C)."""
    from PIL import Image

    shape = (image_size, image_size) + ((3,) if dataset.mode == "RGB" else ())
    images = np.empty((len(dataset),) + shape, dtype=np.uint8)
    for index in range(len(dataset)):
        images[index] = np.asarray(dataset.load(index).resize((image_size, image_size), Image.BILINEAR))
    return images
