"""Image datasets: local folders first, then torchvision's download; one clear error when neither works.

Readers parse the standard on-disk formats themselves (IDX for MNIST-like sets, the pickled batches for CIFAR), so
any copy in the usual layout works, including the small ones the tests generate; torchvision is used only to
download when no local copy exists.
"""
from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..validation import check_features, check_labels
from .base import DatasetNotFound, LabelledDataset
from .paths import data_roots, download_root
from .registry import register

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass
class ImageDataset(LabelledDataset):
    """In memory: images (N, H, W, C) as uint8 or float in [0, 1], integer labels, class names, their source.

    The fast path for the small embedded sets; `load(i)` is the (H, W, C) array, the default transform makes it a
    float tensor in [0, 1] like any other LabelledDataset.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: list
    source: str
    extras: dict = field(default_factory=dict)

    transform: object = None

    def __post_init__(self):
        if self.images.ndim == 3:
            self.images = self.images[..., None]
        self.labels = np.asarray(self.labels, dtype=np.int64)

    @property
    def mode(self) -> str:
        return "L" if self.images.shape[-1] == 1 else "RGB"

    def load(self, index: int) -> np.ndarray:
        return self.images[index]

    def _take(self, indices) -> "ImageDataset":
        extras = {k: v[indices] if isinstance(v, np.ndarray) and len(v) == len(self.labels) else v
                  for k, v in self.extras.items()}
        return ImageDataset(self.name, self.images[indices], self.labels[indices], list(self.classes),
                            self.source, extras, self.transform)


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)

def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally .gz) as a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, file holds {array.size} values (truncated?)")
    return array.reshape(shape)


def _find_idx(folders, split: str):
    prefix = "train" if split == "train" else "t10k"
    for folder in folders:
        for suffix in ("", ".gz"):
            images = folder / f"{prefix}-images-idx3-ubyte{suffix}"
            labels = folder / f"{prefix}-labels-idx1-ubyte{suffix}"
            if images.exists() and labels.exists():
                return images, labels
    return None


def _idx_dataset(name, torchvision_name, classes, split, root, download, extra_folders=()):
    subfolders = {"fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"), "mnist": ("mnist", "MNIST/raw")}[name]
    folders = [r / sub for r in data_roots(root) for sub in subfolders] + [r for r in data_roots(root)]
    folders += list(extra_folders)
    found = _find_idx(folders, split)
    if found is None and download:
        _torchvision_download(torchvision_name, root)
        found = _find_idx(folders, split)
    if found is None:
        raise _not_found(name, folders, download)
    images, labels = (read_idx(path) for path in found)
    return ImageDataset(name, images, labels, list(classes), str(found[0].parent))


# ---------------------------------------------------------------- CIFAR pickles

def _unpickle(path: Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def _cifar_images(flat) -> np.ndarray:
    return np.asarray(flat, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _cifar(name, split, root, download):
    folder_name = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[name]
    folders = [r / folder_name for r in data_roots(root)]
    found = next((f for f in folders if f.is_dir()), None)
    if found is None and download:
        _torchvision_download({"cifar10": "CIFAR10", "cifar100": "CIFAR100"}[name], root)
        found = next((f for f in folders if f.is_dir()), None)
    if found is None:
        raise _not_found(name, folders, download)
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        batches = [_unpickle(found / f) for f in files]
        classes = _unpickle(found / "batches.meta")["label_names"] if (found / "batches.meta").exists() \
            else CIFAR10_CLASSES
        return ImageDataset(name, np.concatenate([_cifar_images(b["data"]) for b in batches]),
                            np.concatenate([b["labels"] for b in batches]), list(classes), str(found))
    batch = _unpickle(found / ("train" if split == "train" else "test"))
    meta = _unpickle(found / "meta")
    return ImageDataset(name, _cifar_images(batch["data"]), np.asarray(batch["fine_labels"]),
                        list(meta["fine_label_names"]), str(found),
                        {"coarse_labels": np.asarray(batch["coarse_labels"], dtype=np.int64),
                         "coarse_classes": list(meta.get("coarse_label_names", []))})


# ---------------------------------------------------------------- downloads and errors

def _torchvision_download(torchvision_name: str, root) -> None:
    """torchvision's own download into the download root; failures become DatasetNotFound later."""
    import torchvision.datasets as tvd

    target = download_root(root)
    target.mkdir(parents=True, exist_ok=True)
    try:
        getattr(tvd, torchvision_name)(root=str(target), train=True, download=True)
        getattr(tvd, torchvision_name)(root=str(target), train=False, download=True)
    except Exception:  # offline, refused, interrupted: the caller reports what was looked for
        pass


FETCH_HINTS = {
    "fashion-mnist": "apt-get install dataset-fashion-mnist   (or: semscale fetch fashion-mnist --root DIR)",
    "mnist": "semscale fetch mnist --root DIR",
    "cifar10": "semscale fetch cifar10 --root DIR",
    "cifar100": "semscale fetch cifar100 --root DIR",
}


def _not_found(name, folders, download) -> DatasetNotFound:
    from .registry import spec

    looked = "\n  ".join(str(f) for f in folders)
    if download:  # the fetch command would only try the same download again: say where to get it instead
        what = (f"and the download failed (offline?). Where the network is reachable, fetch it with:\n"
                f"  {FETCH_HINTS[name]}\nor copy it from {spec(name).published} into one of those folders, or")
    else:
        what = f"and downloading was switched off. To fetch it run:\n  {FETCH_HINTS[name]}\nor"
    return DatasetNotFound(f"dataset {name!r} not found; looked in:\n  {looked}\n{what} point --data-dir / "
                           "SEMSCALE_DATA at a folder holding it in torchvision's layout.")


# ---------------------------------------------------------------- public loaders

@register("fashion-mnist", splits=("train", "test"), aliases=("fashionmnist",),
          looks_for=("fashion-mnist/train-images-idx3-ubyte.gz", "fashion-mnist/train-images-idx3-ubyte",
                     "FashionMNIST/raw/train-images-idx3-ubyte", "FashionMNIST/raw/train-images-idx3-ubyte.gz"),
          extra_places=(DEBIAN_FASHION_MNIST.parent,), published="Debian dataset-fashion-mnist; "
          "github.com/zalandoresearch/fashion-mnist", description="Fashion-MNIST, 10 classes, 60k/10k, in memory")
def load_fashion_mnist(split="train", root=None, download=True) -> ImageDataset:
    return _idx_dataset("fashion-mnist", "FashionMNIST", FASHION_MNIST_CLASSES, split, root, download,
                        extra_folders=[DEBIAN_FASHION_MNIST])


@register("mnist", splits=("train", "test"), looks_for=("MNIST/raw/train-images-idx3-ubyte",
          "MNIST/raw/train-images-idx3-ubyte.gz", "mnist/train-images-idx3-ubyte.gz"),
          published="yann.lecun.com/exdb/mnist (torchvision.datasets.MNIST downloads it)",
          description="MNIST, 10 classes, 60k/10k, in memory")
def load_mnist(split="train", root=None, download=True) -> ImageDataset:
    return _idx_dataset("mnist", "MNIST", [str(i) for i in range(10)], split, root, download)


@register("cifar10", splits=("train", "test"), aliases=("cifar-10",), looks_for=("cifar-10-batches-py",),
          published="www.cs.toronto.edu/~kriz/cifar.html (torchvision.datasets.CIFAR10 downloads it)",
          description="CIFAR-10 python pickles, 10 classes, 50k/10k, in memory")
def load_cifar10(split="train", root=None, download=True) -> ImageDataset:
    return _cifar("cifar10", split, root, download)


@register("cifar100", splits=("train", "test"), aliases=("cifar-100",), looks_for=("cifar-100-python",),
          published="www.cs.toronto.edu/~kriz/cifar.html (torchvision.datasets.CIFAR100 downloads it)",
          description="CIFAR-100 python pickles, 100 classes (20 superclasses), 50k/10k, in memory")
def load_cifar100(split="train", root=None, download=True) -> ImageDataset:
    return _cifar("cifar100", split, root, download)


@register("digits", splits=("train", "test"), looks_for=(), published="scikit-learn (sklearn.datasets.load_digits)",
          description="scikit-learn's 8x8 digits, 10 classes, 1,797 images, fixed 75/25 split, in memory")
def load_digits(split="train", root=None, download=True, test_fraction: float = 0.25, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8 x 8 digits (1,797 images, pixels 0..16 scaled to [0, 1]); a fixed stratified split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    train_idx, test_idx = train_test_split(np.arange(len(bunch.target)), test_size=test_fraction,
                                           stratify=bunch.target, random_state=seed)
    idx = np.sort(train_idx if split == "train" else test_idx)
    return ImageDataset("digits", (bunch.images[idx] / 16.0).astype(np.float32), bunch.target[idx],
                        [str(i) for i in range(10)], "sklearn.datasets.load_digits")


DATASETS = {
    "fashion-mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "digits": load_digits,
}
def load_image_folder(path, image_size: int = 32, mode: str | None = None, in_memory: bool = True):
    """ImageFolder layout (path/<class>/<image>): classes are the sorted sub-folder names (see folders.py).

    in_memory (the default, for training and feature-space callers that need `.images`): an ImageDataset of every
    image resized to image_size x image_size. in_memory=False: the lazy FileImageDataset, images at native size.
    mode: 'RGB', 'L', or None for the majority mode over all images (announced on stderr).
    """
    from .folders import image_folder, stack_resized

    lazy = image_folder(path, mode)
    if not in_memory:
        return lazy
    return ImageDataset(lazy.name, stack_resized(lazy, image_size), lazy.labels, lazy.classes, lazy.source)


def load_features_file(path, labels_path=None, features_key: str = "features", labels_key: str = "labels"):
    """(features, labels, class names or None) from an .npz (keys features/labels, optional class_names) or an
    .npy of features with a separate .npy of labels."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in (features_key, labels_key) if k not in archive.files]
            if missing:
                raise ValueError(f"{path}: missing array(s) {missing}; it holds {archive.files}. "
                                 "Name them with --features-key / --labels-key")
            names = [str(n) for n in archive["class_names"]] if "class_names" in archive.files else None
            return _checked_file_arrays(archive[features_key], archive[labels_key], names,
                                        f"{path} array '{features_key}'", f"{path} array '{labels_key}'")
    if path.suffix == ".npy":
        if labels_path is None:
            raise ValueError(f"{path}: an .npy holds only features; give the labels with --labels FILE.npy")
        if not Path(labels_path).exists():
            raise FileNotFoundError(f"--labels {labels_path}: no such file")
        return _checked_file_arrays(np.load(path, allow_pickle=False), np.load(labels_path, allow_pickle=False),
                                    None, str(path), f"--labels {labels_path}")
    raise ValueError(f"{path}: expected an .npz or .npy file")


def _checked_file_arrays(features, labels, names, features_source: str, labels_source: str):
    """The arrays of a features file, checked with the file (and array) at fault named in the error."""
    features = check_features(features, features_source)
    labels = check_labels(labels, num_samples=len(features), name=labels_source)
    if names is not None and len(labels) and len(names) <= labels.max():
        raise ValueError(f"{labels_source}: label {int(labels.max())} has no name ('class_names' holds {len(names)}); "
                         "give one name per class")
    return features, labels, names
