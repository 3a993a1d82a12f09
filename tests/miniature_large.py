"""Miniature copies of the large datasets' real layouts: ImageNet-LT / Places-LT list files, ILSVRC2012 folders,
iNaturalist-2018's official JSON, image folders mixing grey and colour. Tiny JPEGs and PNGs with the real names."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

WNIDS = ["n01440764", "n01443537", "n01484850"]
LT_TRAIN = [6, 3, 2]          # long-tailed training counts a class
LT_VAL = [2, 2, 2]            # val lines: other images of ImageNet *train*
LT_TEST = [2, 2, 2]           # test lines: ILSVRC2012 val images


def write_image(path: Path, rng, mode="RGB", size=8, fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(path, format=fmt)
    return path


def make_imagenet_lt_layout(root: Path, test_paths="nested", disk_val="nested", seed=0):
    """root/ImageNet_LT/ImageNet_LT_{train,val,test}.txt and root/imagenet/{train,val}/ (ILSVRC2012 names).

    test_paths: how the test list writes ILSVRC val paths ('nested' val/<wnid>/x.JPEG as classifier-balancing,
    'flat' val/x.JPEG as LADE); disk_val: how the images lie on disk. Returns {split: [(relative path, label)]}."""
    rng = np.random.default_rng(seed)
    images = root / "imagenet"
    lines = {"train": [], "val": [], "test": []}
    serial = 0
    for label, wnid in enumerate(WNIDS):
        for k in range(LT_TRAIN[label] + LT_VAL[label]):
            relative = f"train/{wnid}/{wnid}_{1000 + k}.JPEG"
            write_image(images / relative, rng, fmt="JPEG")
            lines["train" if k < LT_TRAIN[label] else "val"].append((relative, label))
        for _ in range(LT_TEST[label]):
            serial += 1
            name = f"ILSVRC2012_val_{serial:08d}.JPEG"
            write_image(images / ("val/" + (f"{wnid}/" if disk_val == "nested" else "") + name), rng, fmt="JPEG")
            lines["test"].append((f"val/{wnid}/{name}" if test_paths == "nested" else f"val/{name}", label))
    (root / "ImageNet_LT").mkdir(parents=True, exist_ok=True)
    order = rng.permutation(len(lines["train"]))       # the released lists are not sorted by class
    lines["train"] = [lines["train"][i] for i in order]
    for split, rows in lines.items():
        (root / "ImageNet_LT" / f"ImageNet_LT_{split}.txt").write_text("".join(f"{p} {y}\n" for p, y in rows))
    return lines


def make_places_lt_layout(root: Path, seed=0):
    """root/Places_LT/Places_LT_{train,val,test}.txt over data_256/<letter>/<category>/ and val_256/."""
    rng = np.random.default_rng(seed)
    categories = ["a/airfield", "a/apartment_building/outdoor", "b/bakery/shop"]
    lines = {"train": [], "val": [], "test": []}
    serial = 0
    for label, category in enumerate(categories):
        for k in range(4 - label):
            relative = f"data_256/{category}/{k + 1:08d}.jpg"
            write_image(root / "places365" / relative, rng, fmt="JPEG")
            lines["train" if k < 3 - label else "val"].append((relative, label))
        serial += 1
        relative = f"val_256/Places365_val_{serial:08d}.jpg"
        write_image(root / "places365" / relative, rng, fmt="JPEG")
        lines["test"].append((relative, label))
    (root / "Places_LT").mkdir(parents=True)
    for split, rows in lines.items():
        (root / "Places_LT" / f"Places_LT_{split}.txt").write_text("".join(f"{p} {y}\n" for p, y in rows))
    return lines


def make_ilsvrc_layout(root: Path, val="folders", per_class=(3, 2, 4), val_per_class=2, seed=0):
    """root/imagenet/train/<wnid>/<wnid>_N.JPEG; val as class folders, or flat with Kaggle's LOC_val_solution.csv
    (val='kaggle') or a caffe-style val.txt of `name label` lines (val='caffe'). Returns the val labels in file
    order of the sorted file names."""
    rng = np.random.default_rng(seed)
    base = root / "imagenet"
    for label, wnid in enumerate(WNIDS):
        for k in range(per_class[label]):
            write_image(base / "train" / wnid / f"{wnid}_{k + 1}.JPEG", rng, fmt="JPEG")
    val_labels = [int(y) for y in rng.permutation(np.repeat(np.arange(len(WNIDS)), val_per_class))]
    rows = []
    for serial, label in enumerate(val_labels, 1):
        name = f"ILSVRC2012_val_{serial:08d}.JPEG"
        folder = base / "val" / (WNIDS[label] if val == "folders" else "")
        write_image(folder / name, rng, fmt="JPEG")
        rows.append((name, label))
    if val == "kaggle":
        text = "ImageId,PredictionString\n" + "".join(
            f"{Path(n).stem},{WNIDS[y]} 1 2 30 40 {WNIDS[y]} 5 6 7 8 \n" for n, y in rows[::-1])
        (base / "LOC_val_solution.csv").write_text(text)
    elif val == "caffe":
        (base / "val.txt").write_text("".join(f"{n} {y}\n" for n, y in rows))
    elif val == "devkit":
        write_devkit(base / "ILSVRC2012_devkit_t12" / "data", [y for _, y in rows])
    return val_labels


DEVKIT_IDS = {"n01484850": 1, "n01440764": 2, "n01443537": 3}    # ILSVRC2012_IDs: not the sorted-wnid order


def write_devkit(folder: Path, labels):
    """The official devkit's meta.mat (synsets: ILSVRC2012_ID, WNID, words, num_children; a non-leaf synset too)
    and ILSVRC2012_validation_ground_truth.txt (one ILSVRC2012_ID a line, val image i on line i)."""
    from scipy.io import savemat

    folder.mkdir(parents=True)
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    synsets = [(i, w, f"words {w}", 0) for w, i in DEVKIT_IDS.items()] + [(1001, "n00001740", "entity", 3)]
    savemat(folder / "meta.mat", {"synsets": np.array(synsets, dtype=dtype).reshape(-1, 1)})
    (folder / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{DEVKIT_IDS[WNIDS[y]]}\n"
                                                                           for y in labels))


INAT_CATEGORIES = [  # ids deliberately not in file order
    {"id": 2, "name": "Aves sp. two", "supercategory": "Aves", "kingdom": "Animalia"},
    {"id": 0, "name": "Plantae sp. zero", "supercategory": "Plantae", "kingdom": "Plantae"},
    {"id": 1, "name": "Fungi sp. one", "supercategory": "Fungi", "kingdom": "Fungi"},
]
INAT_TRAIN = {0: 5, 1: 3, 2: 2}
INAT_VAL = {0: 1, 1: 2, 2: 1}


def make_inaturalist_layout(root: Path, folder="iNaturalist18", seed=0):
    """root/<folder>/{train2018.json, val2018.json, train_val2018/<supercategory>/<id>/<hash>.jpg}, COCO style.
    Returns {split: [(file_name, category_id)]} in the JSON's image order."""
    rng = np.random.default_rng(seed)
    base = root / folder
    by_id = {c["id"]: c for c in INAT_CATEGORIES}
    written = {}
    image_id = 100
    for split, counts in (("train", INAT_TRAIN), ("val", INAT_VAL)):
        images, annotations, rows = [], [], []
        for category in (1, 0, 2):                           # images not grouped in category order
            for _ in range(counts[category]):
                image_id += 7
                name = f"train_val2018/{by_id[category]['supercategory']}/{category}/{rng.bytes(16).hex()}.jpg"
                write_image(base / name, rng, size=10, fmt="JPEG")
                images.append({"id": image_id, "file_name": name, "width": 10, "height": 10,
                               "license": 3, "rights_holder": "someone"})
                annotations.append({"id": image_id + 1, "image_id": image_id, "category_id": category})
                rows.append((name, category))
        json.dump({"info": {"year": 2018}, "images": images, "annotations": annotations[::-1],
                   "categories": INAT_CATEGORIES, "licenses": []}, open(base / f"{split}2018.json", "w"))
        written[split] = rows
    return written


def make_mixed_folder(root: Path, grey_then_colour=(("a", 6, 10), ("b", 4, 0)), size=12, seed=0):
    """ImageFolder whose first images are grey and later ones colour: (class, grey count, colour count)."""
    rng = np.random.default_rng(seed)
    for name, grey, colour in grey_then_colour:
        for k in range(grey + colour):
            write_image(root / name / f"{k:04d}.png", rng, mode="L" if k < grey else "RGB", size=size)
    return root
