"""Mini-ImageNet (Vinyals et al. 2016) in the Ravi & Larochelle release: 100 classes x 600 images.

Layout: <folder>/{train.csv, val.csv, test.csv} with a header "filename,label" and one "n0153282900000005.jpg,
n01532829" a line (64, 16 and 20 classes), and the images in <folder>/images/<filename> (or
<folder>/images/<label>/<filename>).

Class order (stated, since the paper gives none): the order of first appearance in train.csv, then val.csv, then
test.csv, i.e. Ravi's 64 meta-training classes are labels 0..63, the 16 validation classes 64..79, the 20 test
classes 80..99.

Registered splits:
    mini-imagenet          classification over all 100 classes (Sec. 3.3, Table 6). The release has no
                           per-class test images, and Table 6's largest sub-dataset takes m = 500 a class, so each
                           class is split 500 train / 100 test, seeded (seed=, train_fraction= 5/6 by default).
    mini-imagenet-metric   App. D.5.2 (Table 9): the first 64 classes train, the last 36 test (relabelled 0..35),
                           all 600 images a class; in the class order above this is train.csv against
                           val.csv + test.csv.
"""
from __future__ import annotations

from pathlib import Path

from ._disk import locate, ratio_split, read_rows, require
from .base import DatasetLayoutError, FileImageDataset
from .metric_splits import METRIC_TRAIN_CLASSES, class_range_split
from .registry import register

CSV_FILES = ("train.csv", "val.csv", "test.csv")
PUBLISHED = ("the Ravi & Larochelle split files (github.com/twitter/meta-learning-lstm, data/miniImagenet) with the "
             "images cut from ILSVRC-2012 train (image-net.org); also re-shipped as mini-imagenet archives")
LOOKS_FOR = ("mini-imagenet/train.csv", "miniImagenet/train.csv", "miniimagenet/train.csv", "mini_imagenet/train.csv")
TRAIN_FRACTION = 5 / 6          # 500 of the 600 images a class (Table 6's largest m)


def read_mini_imagenet(folder: Path, name: str = "mini-imagenet", mode: str = "RGB", transform=None):
    """All 60,000 images, labels in the class order of the module docstring."""
    folder = Path(folder)
    files = require(folder, CSV_FILES, name)
    classes, owner, entries = [], {}, []
    for csv in files:
        for number, fields in read_rows(csv, 2, sep=",", header=True, dataset=name):
            filename, wnid = fields[0], fields[1]
            if wnid not in owner:
                owner[wnid] = csv.name
                classes.append(wnid)
            elif owner[wnid] != csv.name:
                raise DatasetLayoutError(f"{name}: {csv}:{number}: class {wnid} also appears in {owner[wnid]}; "
                                         "the three csv files must hold disjoint classes")
            entries.append((filename, wnid, f"{csv}:{number}"))
    if not entries:
        raise DatasetLayoutError(f"{name}: {folder}'s csv files list no images")
    label_of = {wnid: i for i, wnid in enumerate(classes)}
    images = folder / "images"
    nested = not (images / entries[0][0]).exists() and (images / entries[0][1] / entries[0][0]).exists()
    paths = [images / wnid / f if nested else images / f for f, wnid, _ in entries]
    return FileImageDataset(name, paths, [label_of[w] for _, w, _ in entries], classes, folder, mode, transform,
                            [origin for _, _, origin in entries])


def _folder(name: str, root) -> Path:
    base, marker = locate(name, root)
    return (base / marker).parent


@register("mini-imagenet", splits=("train", "test"), aliases=("miniimagenet", "mini_imagenet"),
          looks_for=LOOKS_FOR, published=PUBLISHED,
          description="Mini-ImageNet classification, 100 classes, seeded 500/100 images a class (load_dataset "
                      "option: seed)")
def load_mini_imagenet(split="train", root=None, download=True, seed=0, train_fraction=TRAIN_FRACTION,
                       mode="RGB", transform=None) -> FileImageDataset:
    data = read_mini_imagenet(_folder("mini-imagenet", root), "mini-imagenet", mode, transform)
    train, test = ratio_split(data.labels, train_fraction, seed)
    subset = data.subset(train if split == "train" else test, name=f"mini-imagenet-{split}")
    subset.extras = dict(subset.extras, split_seed=int(seed))
    return subset


@register("mini-imagenet-metric", splits=("train", "test"), aliases=("miniimagenet-metric",),
          looks_for=LOOKS_FOR, published=PUBLISHED,
          description="Mini-ImageNet metric-learning split (App. D.5.2): first 64 classes train, last 36 test")
def load_mini_imagenet_metric(split="train", root=None, download=True, mode="RGB", transform=None):
    data = read_mini_imagenet(_folder("mini-imagenet-metric", root), "mini-imagenet-metric", mode, transform)
    return class_range_split(data, METRIC_TRAIN_CLASSES["mini-imagenet"], split,
                             name=f"mini-imagenet-metric-{split}")
