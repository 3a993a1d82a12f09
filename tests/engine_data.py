"""A miniature ImageNet-LT layout for the engine tests: JPEG files in WordNet-id folders listed by text files.

ImageNet-LT ships ImageNet_LT_train.txt / ImageNet_LT_test.txt, one "train/n01440764/n01440764_190.JPEG 0" line per
image. The files here are tiny JPEGs whose colour depends on the class (something to learn).
"""
from pathlib import Path

import numpy as np

WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331", "n01498041", "n01514668"]
LONG_TAIL = [10, 8, 6, 5, 4, 3, 2, 2]


def write_jpeg(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=90)


def make_imagenet_lt(root: Path, train_counts=LONG_TAIL, test_per_class=2, size=(20, 24), seed=0) -> Path:
    """Write root/{train,val}/<wnid>/*.JPEG and the two list files; returns root."""
    rng = np.random.default_rng(seed)
    for split, listing, counts in (("train", "ImageNet_LT_train.txt", train_counts),
                                   ("val", "ImageNet_LT_test.txt", [test_per_class] * len(train_counts))):
        lines = []
        for label, (wnid, count) in enumerate(zip(WNIDS, counts)):
            base = np.array([label * 30, 255 - label * 30, (label * 70) % 256], dtype=np.float64)
            for k in range(count):
                pixels = np.clip(base + rng.normal(0, 25, size=(*size, 3)), 0, 255).astype(np.uint8)
                relative = f"{split}/{wnid}/{wnid}_{k}.JPEG"
                write_jpeg(root / relative, pixels)
                lines.append(f"{relative} {label}")
        (root / listing).write_text("\n".join(lines) + "\n")
    return root


def list_file_dataset(root: Path, listing: str):
    """A FileImageDataset straight from a list file (the real ImageNet-LT loader lives in semscale.data)."""
    from semscale.data import FileImageDataset

    paths, labels, origins = [], [], []
    for number, line in enumerate((root / listing).read_text().splitlines(), 1):
        relative, label = line.split()
        paths.append(root / relative)
        labels.append(int(label))
        origins.append(f"{listing}:{number}")
    return FileImageDataset("imagenet-lt-mini", paths, labels, WNIDS, str(root), origins=origins)


def kill_after_steps(optimizer_class, steps: int) -> None:
    """Make this process die hard (SIGKILL, no cleanup) at its `steps`-th optimizer step: a crash mid-epoch."""
    import os
    import signal

    count = {"n": 0}
    original = optimizer_class.step

    def step(self, *args, **kwargs):
        count["n"] += 1
        if count["n"] == steps:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)

    optimizer_class.step = step
