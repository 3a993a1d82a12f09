"""Miniature copies of the paper's file-list datasets, in their real layouts: the real file names, text formats,
a real MATLAB .mat (scipy.io.savemat), real JSON and a real .xlsx; tiny images whose grey level encodes the class,
so a test can check that image i decodes to the class its label claims.

Each writer returns what the test should find (counts, labels, splits), computed here by plain loops from the
layout it wrote, never by the loader under test.
"""
import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image


def grey_of(class_index: int) -> int:
    """The grey level an image of `class_index` (0-based) is drawn with: distinct for up to 200 classes."""
    return 20 + class_index


def write_image(path: Path, value: int, size: int = 4, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8)).save(path, fmt)
    return path


# ---------------------------------------------------------------- CUB-200-2011

def make_cub(root: Path, classes: int = 200):
    """CUB_200_2011/ with 1-3 images a class (class c holds 1 + c % 3); image k of a class is a test image when
    k is even. Returns per-image (class id 1-based, is_training) in images.txt order."""
    folder = root / "CUB_200_2011"
    names = [f"{c:03d}.Bird_{c}" for c in range(1, classes + 1)]
    rows, image_id = [], 0
    for c, name in enumerate(names, start=1):
        for k in range(1 + c % 3):
            image_id += 1
            relative = f"{name}/Bird_{c}_{k:04d}_{image_id}.jpg"
            write_image(folder / "images" / relative, grey_of(c - 1))
            rows.append((image_id, relative, c, int(k % 2 == 1)))
    (folder / "classes.txt").write_text("".join(f"{c} {n}\n" for c, n in enumerate(names, start=1)))
    (folder / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, _, _ in rows))
    (folder / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c, _ in rows))
    (folder / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, _, _, t in rows))
    return folder, [(c, t) for _, _, c, t in rows]


# ---------------------------------------------------------------- Cars196

def cars_counts(classes: int = 196):
    """Images a class (1, 2 or 3); the second image of a class is an official test image."""
    return [1 + c % 3 for c in range(1, classes + 1)]


def _cars_rows(classes=196):
    rows, n = [], 0
    for c, count in enumerate(cars_counts(classes), start=1):
        for k in range(count):
            n += 1
            rows.append((f"car_ims/{n:06d}.jpg", c, int(k == 1)))
    return rows


def make_cars_mat(root: Path):
    """cars196/car_ims/ + cars_annos.mat (struct array 'annotations', cell 'class_names') via scipy.io.savemat."""
    from scipy.io import savemat

    folder = root / "cars196"
    rows = _cars_rows()
    record = np.dtype([(f, "O") for f in ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2",
                                          "class", "test")])
    annotations = np.zeros((1, len(rows)), dtype=record)
    for i, (path, c, test) in enumerate(rows):
        write_image(folder / path, grey_of(c - 1))
        annotations[0, i] = (path, np.array([[1]], np.uint8), np.array([[1]], np.uint8), np.array([[3]], np.uint8),
                             np.array([[3]], np.uint8), np.array([[c]], np.uint8), np.array([[test]], np.uint8))
    class_names = np.empty((1, 196), dtype=object)
    class_names[0, :] = [f"Make {c} Model 20{c % 13:02d}" for c in range(1, 197)]
    savemat(folder / "cars_annos.mat", {"annotations": annotations, "class_names": class_names})
    return folder, rows


def make_cars_text(root: Path):
    """cars196/cars_annos.txt ("car_ims/000001.jpg,1") with the images moved to train/1..98 and test/99..196."""
    folder = root / "cars196"
    folder.mkdir(parents=True)
    rows = _cars_rows()
    for path, c, _ in rows:
        write_image(folder / ("train" if c <= 98 else "test") / str(c) / Path(path).name, grey_of(c - 1))
    (folder / "cars_annos.txt").write_text("".join(f"{p},{c}\n" for p, c, _ in rows))
    return folder, rows


def make_cars_kaggle(root: Path):
    """stanford-car-dataset-by-classes-folder/: names.csv, anno_{train,test}.csv, car_data/car_data/{train,test}/
    <name>/<file>; file numbering restarts in each split, as in the official cars_train / cars_test."""
    folder = root / "stanford-car-dataset-by-classes-folder"
    names = [f"Make {c} Model/Van 20{c % 13:02d}" if c == 7 else f"Make {c} Model 20{c % 13:02d}"
             for c in range(1, 197)]
    rows, counters = [], {"train": 0, "test": 0}
    for path, c, test in _cars_rows():
        split = "test" if test else "train"
        counters[split] += 1
        file = f"{counters[split]:05d}.jpg"
        write_image(folder / "car_data" / "car_data" / split / names[c - 1].replace("/", "-") / file,
                    grey_of(c - 1))
        rows.append((split, file, c))
    (folder / "names.csv").write_text("".join(n + "\n" for n in names))
    for split in ("train", "test"):
        (folder / f"anno_{split}.csv").write_text(
            "".join(f"{f},1,1,3,3,{c}\n" for s, f, c in rows if s == split))
    return folder, rows, names


# ---------------------------------------------------------------- Mini-ImageNet

def make_mini_imagenet(root: Path, per_class: int = 6):
    """mini-imagenet/{train,val,test}.csv (64/16/20 classes) + images/; returns the wnids in csv order."""
    folder = root / "mini-imagenet"
    wnids = [f"n{1000000 + 37 * c:08d}" for c in range(100)]
    for name, chunk in (("train", wnids[:64]), ("val", wnids[64:80]), ("test", wnids[80:])):
        lines = ["filename,label"]
        for wnid in chunk:
            for k in range(per_class):
                filename = f"{wnid}{k + 1:08d}.jpg"
                write_image(folder / "images" / filename, grey_of(wnids.index(wnid)))
                lines.append(f"{filename},{wnid}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return folder, wnids


# ---------------------------------------------------------------- CIFAR-100 with 6 images a class

def make_cifar100_balanced(root: Path, train_per_class: int = 5, test_per_class: int = 1):
    """cifar-100-python/{train,test,meta} pickles, every class holding train_per_class + test_per_class images."""
    import pickle

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, per in (("train", train_per_class), ("test", test_per_class)):
        fine = np.tile(np.arange(100), per)
        data = np.repeat(np.asarray([grey_of(c) for c in fine], dtype=np.uint8)[:, None], 3072, axis=1)
        pickle.dump({"data": data, "fine_labels": list(fine), "coarse_labels": list(fine // 5)},
                    open(folder / name, "wb"))
    pickle.dump({"fine_label_names": [f"f{i}" for i in range(100)],
                 "coarse_label_names": [f"s{i}" for i in range(20)]}, open(folder / "meta", "wb"))
    return root


# ---------------------------------------------------------------- GLT benchmark (MSCOCO-GLT)

GLT_CLASSES = ["person", "car", "dog"]


def make_mscoco_glt(root: Path, old_prefix: str = "/data4/coco_glt/images/"):
    """MSCOCO-GLT/ with both annotation files in the benchmark's JSON form. Train-GLT is long-tailed (4, 2, 1
    images), every other split 2 a class. The inter_lt file lists relative paths and integer attributes; the
    inter_bl file absolute paths under `old_prefix` (as the generation script writes them on its author's disk)
    and multi-hot attribute vectors. Returns {file: {split: [(key, label, frequency, attribute, image path)]}}."""
    folder = root / "MSCOCO-GLT"
    images = folder / "images"
    plan = {"coco_intra_lt_inter_lt.json": {"train": (4, 2, 1), "val": (1, 1, 1), "test_lt": (2, 1, 1),
                                            "test_bl": (2, 2, 2), "test_bbl": (2, 2, 2)},
            "coco_intra_lt_inter_bl.json": {"train": (2, 2, 2), "val": (1, 1, 1), "test_lt": (0, 0, 0),
                                            "test_bl": (2, 2, 2), "test_bbl": (2, 2, 2)}}
    expected, serial = {}, 0
    for file, splits in plan.items():
        content, expected[file] = {"cat2id": {n: i for i, n in enumerate(GLT_CLASSES)},
                                   "id2cat": {str(i): n for i, n in enumerate(GLT_CLASSES)}}, {}
        for split, counts in splits.items():
            part, rows = {"label": {}, "frequency": {}, "attribute": {}, "path": {}}, []
            for label, count in enumerate(counts):
                for _ in range(count):
                    serial += 1
                    key = str(900000 + serial)
                    write_image(images / f"{key}.jpg", grey_of(label))
                    vector = file.endswith("bl.json")
                    attribute = [float((serial >> b) & 1) for b in range(4)] if vector else serial % 6
                    path = old_prefix + f"{key}.jpg" if vector else f"images/{key}.jpg"
                    for field, value in (("label", label), ("frequency", label), ("attribute", attribute),
                                         ("path", path)):
                        part[field][key] = value
                    rows.append((key, label, label, attribute, images / f"{key}.jpg"))
            content[split], expected[file][split] = part, rows
        (folder / file).write_text(json.dumps(content))
    return folder, expected


# ---------------------------------------------------------------- OIA-ODIR

ODIR_HEADER = ["ID", "Patient Age", "Patient Sex", "Left-Fundus", "Right-Fundus", "Left-Diagnostic Keywords",
               "Right-Diagnostic Keywords", "N", "D", "G", "C", "A", "H", "M", "O"]
ODIR_PARTS = {  # part: (annotation file, single-label patients a class N..M)
    "Training Set": ("training annotation (English).xlsx", (5, 4, 3, 3, 3, 2, 4)),
    "Off-site Test Set": ("off-site test annotation (English).xlsx", (2, 2, 1, 2, 2, 2, 2)),
    "On-site Test Set": ("on-site test annotation (English).csv", (1, 1, 1, 1, 1, 1, 1)),
}


def make_oia_odir(root: Path):
    """OIA-ODIR/<part>/{Annotation/<sheet>, Images/} with real .xlsx sheets (openpyxl) for the training and
    off-site sets and a .csv export for the on-site set. Each part also holds one D+O patient and one D+H
    patient after its single-label ones. Returns {part: [(sheet row, ID, flags N..O)]}."""
    from openpyxl import Workbook

    expected, next_id = {}, 0
    for part, (sheet_name, counts) in ODIR_PARTS.items():
        flags_list = [[int(i == c) for i in range(7)] + [0] for c, n in enumerate(counts) for _ in range(n)]
        flags_list += [[0, 1, 0, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 1, 0, 0]]
        rows, expected[part] = [ODIR_HEADER], []
        for number, flags in enumerate(flags_list, start=2):
            pid = next_id
            next_id += 1
            for side in ("left", "right"):
                first = flags.index(1)
                write_image(root / "OIA-ODIR" / part / "Images" / f"{pid}_{side}.jpg", grey_of(first))
            rows.append([pid, 50, "Female", f"{pid}_left.jpg", f"{pid}_right.jpg", "kw", "kw", *flags])
            expected[part].append((number, pid, flags))
        path = root / "OIA-ODIR" / part / "Annotation" / sheet_name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".xlsx":
            book = Workbook()
            for row in rows:
                book.active.append(row)
            book.save(path)
        else:
            with open(path, "w", newline="") as handle:
                csv.writer(handle).writerows(rows)
    return root / "OIA-ODIR", expected


# ---------------------------------------------------------------- remote sensing scene folders

NWPU_FIRST = ["airplane", "airport", "baseball_diamond", "basketball_court", "beach"]


def make_scene_folders(root: Path, dataset: str, sizes):
    """RSSCN7/<aGrass ...>/a001.jpg or NWPU-RESISC45/<class>/<class>_001.jpg, sizes[c] images in class c."""
    if dataset == "rsscn7":
        folder, names = root / "RSSCN7", ["aGrass", "bField", "cIndustry", "dRiverLake", "eForest", "fResident",
                                          "gParking"]
        file = lambda name, k: f"{name[0]}{k:03d}.jpg"  # noqa: E731
    else:
        folder = root / "NWPU-RESISC45"
        names = NWPU_FIRST + [f"zclass_{c:02d}" for c in range(len(NWPU_FIRST), 45)]
        file = lambda name, k: f"{name}_{k:03d}.jpg"  # noqa: E731
    for c, (name, size) in enumerate(zip(names, sizes)):
        for k in range(1, size + 1):
            write_image(folder / name / file(name, k), grey_of(c))
    return folder, names
