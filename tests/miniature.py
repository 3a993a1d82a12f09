"""Miniature copies of the real on-disk layouts (torchvision's folders, CIFAR pickles, ImageFolder) for the tests."""
import gzip
import pickle
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    (gzip.open if compress else open)(path, "wb").write(data)


def make_mnist_layout(root: Path, folder="MNIST/raw", per_class=6, classes=10, seed=0, compress=False):
    rng = np.random.default_rng(seed)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", per_class), ("t10k", max(1, per_class // 2))):
        labels = np.repeat(np.arange(classes), n)
        images = rng.integers(0, 256, size=(len(labels), 28, 28))
        write_idx(root / folder / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(root / folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    return root


def make_cifar10_layout(root: Path, per_batch=4, seed=0, balanced=False):
    """balanced: every batch holds per_batch // 10 images of each class (class-dependent brightness, so there is
    something to learn); otherwise random labels."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = list(np.repeat(np.arange(10), per_batch // 10)) if balanced else list(rng.integers(0, 10, per_batch))
        data = rng.integers(0, 128, size=(len(labels), 3072)) + 12 * np.asarray(labels)[:, None]
        pickle.dump({"data": data.astype(np.uint8), "labels": labels}, open(folder / name, "wb"))
    pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, open(folder / "batches.meta", "wb"))
    return root


def make_cifar100_layout(root: Path, n=20, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name in ("train", "test"):
        fine = rng.integers(0, 100, size=n)
        pickle.dump({"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), "fine_labels": list(fine),
                     "coarse_labels": list(fine // 5)}, open(folder / name, "wb"))
    pickle.dump({"fine_label_names": [f"f{i}" for i in range(100)],
                 "coarse_label_names": [f"s{i}" for i in range(20)]}, open(folder / "meta", "wb"))
    return root


def make_image_folder(root: Path, classes=("cat", "dog", "emu"), per_class=5, size=20, mode="RGB", seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = (size, size, 3) if mode == "RGB" else (size, size)
            Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(root / name / f"{i}.png")
    return root
