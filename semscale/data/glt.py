"""MSCOCO-GLT and ImageNet-GLT (Tang et al. 2022, the GLT benchmark; paper App. H.3, Table 11).

The benchmark ships two annotation JSON files per dataset, one per training set:
    <folder>/coco_intra_lt_inter_lt.json    (ImageNet-GLT: imagenet_sup_intra_lt_inter_lt.json)   Train-GLT
    <folder>/coco_intra_lt_inter_bl.json    (ImageNet-GLT: imagenet_sup_intra_lt_inter_bl.json)   Train-CBL
Each holds the splits train, val, test_lt, test_bl, test_bbl, every split a dict of per-sample dicts keyed by a
sample id: {"label": {id: class}, "frequency": {id: 0/1/2}, "attribute": {id: attribute}, "path": {id: image}},
plus cat2id / id2cat. Splits of the first file are registered under their own names; those of the second with a
"cbl_" prefix (cbl_train is the class-balanced training set, whose own test_bl / test_bbl are drawn separately).

Protocols (the benchmark's README; `glt_protocol` returns the (train, test) pair):
    CLT  Train-GLT on Test-CBL   = (train, test_bl)        class-wise long tail
    GLT  Train-GLT on Test-GBL   = (train, test_bbl)       class- and attribute-wise long tail
    ALT  Train-CBL on Test-GBL   = (cbl_train, cbl_test_bbl)  attribute-wise long tail
Every sample carries extras['frequency'] (the class's many/medium/few group) and extras['attribute'] (an integer
pretext attribute, or a multi-hot row for MSCOCO's attribute vectors); the benchmark forbids using attributes
in training, the loader only carries them for evaluation. A relative image path is read under image_root
(default: the JSON's folder); an absolute one as it is, after the optional remap={old prefix: new prefix}.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._disk import locate
from .base import DatasetLayoutError, FileImageDataset
from .registry import register

SPLITS = ("train", "val", "test_lt", "test_bl", "test_bbl")
CBL_SPLITS = tuple(f"cbl_{s}" for s in SPLITS)
PROTOCOLS = {"CLT": ("train", "test_bl"), "GLT": ("train", "test_bbl"), "ALT": ("cbl_train", "cbl_test_bbl")}
FILES = {"mscoco-glt": ("coco_intra_lt_inter_lt.json", "coco_intra_lt_inter_bl.json"),
         "imagenet-glt": ("imagenet_sup_intra_lt_inter_lt.json", "imagenet_sup_intra_lt_inter_bl.json")}
FOLDERS = {"mscoco-glt": ("MSCOCO-GLT", "mscoco-glt", "coco_glt"), "imagenet-glt": ("ImageNet-GLT", "imagenet-glt")}
PUBLISHED = ("github.com/KaihuaTang/Generalized-Long-Tailed-Benchmarks.pytorch (the generation scripts write the "
             "annotation JSON from {}; the images are {})")


def read_annotation(path: Path, name: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetLayoutError(f"{name}: {path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); "
                                 "re-generate or re-download the annotation file") from None
    if not isinstance(content, dict):
        raise DatasetLayoutError(f"{name}: {path}: expected a JSON object with the splits {list(SPLITS)}")
    return content


def class_names(content: dict, path: Path, name: str) -> list[str]:
    """Names by class id from id2cat ({"0": "person"}) or cat2id ({"person": 0})."""
    if "id2cat" in content:
        pairs = {int(k): str(v) for k, v in content["id2cat"].items()}
    elif "cat2id" in content:
        pairs = {int(v): str(k) for k, v in content["cat2id"].items()}
    else:
        raise DatasetLayoutError(f"{name}: {path} has neither 'cat2id' nor 'id2cat'; the class names are unknown")
    if sorted(pairs) != list(range(len(pairs))):
        raise DatasetLayoutError(f"{name}: {path}: class ids must be 0..{len(pairs) - 1}, got {sorted(pairs)[:8]}...")
    return [pairs[i] for i in range(len(pairs))]


def _attributes(values: list, where: list[str], name: str):
    if all(np.isscalar(v) for v in values):
        return np.asarray(values, dtype=np.int64)
    widths = {len(v) if isinstance(v, list) else -1 for v in values}
    if len(widths) != 1 or -1 in widths:
        first = next(i for i, v in enumerate(values) if not isinstance(v, list) or len(v) != len(values[0]))
        raise DatasetLayoutError(f"{name}: {where[first]}: attribute must be one integer or a vector as long as "
                                 "the others")
    return np.asarray(values, dtype=np.float32)


def split_dataset(content: dict, split: str, path: Path, name: str, image_root=None, remap=None,
                  mode: str = "RGB", transform=None) -> FileImageDataset:
    """One split of an annotation file as a lazily decoded dataset, samples in the file's key order."""
    part = content.get(split)
    if not isinstance(part, dict) or "label" not in part or "path" not in part:
        raise DatasetLayoutError(f"{name}: {path} has no split {split!r} with 'label' and 'path' "
                                 f"(it holds {sorted(k for k in content if isinstance(content[k], dict))})")
    keys = list(part["label"])
    where = [f"{path}:{split}[{key!r}]" for key in keys]
    for field in ("path", "frequency", "attribute"):
        lacking = [w for key, w in zip(keys, where) if field in part and key not in part[field]]
        if lacking:
            raise DatasetLayoutError(f"{name}: {lacking[0]} has a label but no {field}")
    base = Path(image_root) if image_root is not None else path.parent
    paths = [_resolve(part["path"][key], base, remap or {}) for key in keys]
    labels = []
    for key, w in zip(keys, where):
        try:
            labels.append(int(part["label"][key]))
        except (TypeError, ValueError):
            raise DatasetLayoutError(f"{name}: {w}: label {part['label'][key]!r} is not an integer") from None
    extras = {"sample_id": np.asarray(keys, dtype=object)}
    if "frequency" in part:
        extras["frequency"] = np.asarray([int(part["frequency"][k]) for k in keys], dtype=np.int64)
    if "attribute" in part and keys:
        extras["attribute"] = _attributes([part["attribute"][k] for k in keys], where, name)
    return FileImageDataset(f"{name}-{split}", paths, labels, class_names(content, path, name), path.parent,
                            mode, transform, where, extras)


def _resolve(image: str, base: Path, remap: dict) -> Path:
    for old, new in remap.items():
        if image.startswith(old):
            image = new + image[len(old):]
            break
    return Path(image) if Path(image).is_absolute() else base / image


def _annotation_file(name: str, split: str, root) -> Path:
    base, marker = locate(name, root)
    folder = (base / marker).parent
    path = folder / FILES[name][1 if split.startswith("cbl_") else 0]
    if not path.exists():
        raise DatasetLayoutError(f"{name}: split {split!r} is in {path.name}, which is not in {folder}; the "
                                 "benchmark's generation script writes both annotation files")
    return path


def _own(split: str) -> str:
    """The split's key inside its own annotation file ("cbl_test_bbl" is "test_bbl" of the Train-CBL file)."""
    return split[4:] if split.startswith("cbl_") else split


def load_glt(name: str, split: str, root=None, image_root=None, remap=None, mode="RGB", transform=None):
    path = _annotation_file(name, split, root)
    return split_dataset(read_annotation(path, name), _own(split), path, name, image_root, remap, mode, transform)


def glt_protocol(dataset: str = "mscoco-glt", protocol: str = "GLT", root=None, **options):
    """(train, test) of a GLT protocol: CLT = (train, test_bl), GLT = (train, test_bbl),
    ALT = (cbl_train, cbl_test_bbl)."""
    key = dataset.lower().replace("_", "-")
    if key not in FILES:
        raise ValueError(f"dataset {dataset!r}: the GLT protocols exist for {sorted(FILES)}")
    if protocol.upper() not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: one of {sorted(PROTOCOLS)}")
    train_split, test_split = PROTOCOLS[protocol.upper()]
    path = _annotation_file(key, train_split, root)
    content = read_annotation(path, key)
    return tuple(split_dataset(content, _own(s), path, key, **options) for s in (train_split, test_split))


def _register(name: str, source: str, images: str, description: str):
    looks_for = tuple(f"{folder}/{FILES[name][0]}" for folder in FOLDERS[name])

    @register(name, splits=SPLITS + CBL_SPLITS, looks_for=looks_for, published=PUBLISHED.format(source, images),
              description=description)
    def loader(split="train", root=None, download=True, image_root=None, remap=None, mode="RGB", transform=None):
        return load_glt(name, split, root, image_root, remap, mode, transform)

    loader.__name__ = f"load_{name.replace('-', '_')}"
    return loader


load_mscoco_glt = _register("mscoco-glt", "COCO-2014 + MSCOCO-Attribute", "object crops of COCO-2014 "
                            "(mscoco_glt_crop.py)", "MSCOCO-GLT, 29 classes, protocols CLT/GLT/ALT via glt_protocol")
load_imagenet_glt = _register("imagenet-glt", "ImageNet train + k-means pretext attributes", "ILSVRC-2012 train "
                              "images", "ImageNet-GLT, 1,000 classes, protocols CLT/GLT/ALT via glt_protocol")
