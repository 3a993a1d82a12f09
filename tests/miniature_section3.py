"""Miniature CUB-200-2011, Cars196 (.mat layout) and Mini-ImageNet in their real layouts, with random-pixel images
and a few training images in every class, so that sample-space volumes are positive and a radar can be drawn
(tests/miniature_metric.py's builders draw one grey level a class and leave some CUB classes without a training
image, which suits the loader tests but not a measurement)."""
from pathlib import Path

import numpy as np
from PIL import Image


def write_random_image(path: Path, rng, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)).save(path)
    return path


def make_cub_random(root: Path, per_class: int = 3, seed: int = 0) -> list[int]:
    """CUB_200_2011/ with per_class images a class, the first per_class - 1 of each in the training split.
    Returns the training images a class."""
    rng = np.random.default_rng(seed)
    folder = root / "CUB_200_2011"
    names = [f"{c:03d}.Bird_{c}" for c in range(1, 201)]
    rows, image_id = [], 0
    for c, name in enumerate(names, start=1):
        for k in range(per_class):
            image_id += 1
            relative = f"{name}/Bird_{c}_{k:04d}_{image_id}.jpg"
            write_random_image(folder / "images" / relative, rng)
            rows.append((image_id, relative, c, int(k < per_class - 1)))
    (folder / "classes.txt").write_text("".join(f"{c} {n}\n" for c, n in enumerate(names, start=1)))
    (folder / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, _, _ in rows))
    (folder / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c, _ in rows))
    (folder / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, _, _, t in rows))
    return [per_class - 1] * 200


def make_cars_mat_random(root: Path, seed: int = 0) -> list[int]:
    """cars196/car_ims/ + cars_annos.mat; class c has 2 + c % 3 training images and one test image.
    Returns the training images a class."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    folder = root / "cars196"
    train = [2 + c % 3 for c in range(1, 197)]
    rows = []
    for c in range(1, 197):
        for k in range(train[c - 1] + 1):
            rows.append((f"car_ims/{len(rows) + 1:06d}.jpg", c, int(k == train[c - 1])))
    record = np.dtype([(f, "O") for f in ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2",
                                          "class", "test")])
    annotations = np.zeros((1, len(rows)), dtype=record)
    box = [np.array([[v]], np.uint8) for v in (1, 1, 7, 7)]
    for i, (path, c, test) in enumerate(rows):
        write_random_image(folder / path, rng)
        annotations[0, i] = (path, *box, np.array([[c]], np.uint8), np.array([[test]], np.uint8))
    class_names = np.empty((1, 196), dtype=object)
    class_names[0, :] = [f"Make {c} Model" for c in range(1, 197)]
    savemat(folder / "cars_annos.mat", {"annotations": annotations, "class_names": class_names})
    return train


def make_mini_imagenet_random(root: Path, per_class: int = 6, seed: int = 0) -> list[str]:
    """mini-imagenet/{train,val,test}.csv (64/16/20 classes) + images/; returns the wnids in csv order."""
    rng = np.random.default_rng(seed)
    folder = root / "mini-imagenet"
    wnids = [f"n{2000000 + 41 * c:08d}" for c in range(100)]
    for name, chunk in (("train", wnids[:64]), ("val", wnids[64:80]), ("test", wnids[80:])):
        lines = ["filename,label"]
        for wnid in chunk:
            for k in range(per_class):
                filename = f"{wnid}{k + 1:08d}.jpg"
                write_random_image(folder / "images" / filename, rng)
                lines.append(f"{filename},{wnid}")
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return wnids
