"""ImageNet-LT / Places-LT list files and ImageNet ILSVRC2012 folders on miniature copies of the real layouts."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from miniature_large import (LT_TEST, LT_TRAIN, LT_VAL, WNIDS, make_ilsvrc_layout, make_imagenet_lt_layout,
                             make_places_lt_layout)
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset
from semscale.data.listfiles import remap


@pytest.fixture(autouse=True)
def _no_user_data(tmp_path, monkeypatch):
    monkeypatch.delenv("SEMSCALE_DATA", raising=False)
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))


def _relative(dataset, root):
    return [str(Path(p).relative_to(root)) for p in dataset.paths]


@pytest.mark.parametrize("test_paths,disk_val", [("nested", "nested"), ("flat", "flat"), ("nested", "flat"),
                                                 ("flat", "nested")])
def test_imagenet_lt_splits_counts_labels_classes(tmp_path, test_paths, disk_val, capsys):
    lines = make_imagenet_lt_layout(tmp_path, test_paths, disk_val)
    train = load_dataset("imagenet-lt", "train", root=tmp_path)
    val = load_dataset("imagenet_lt", "val", root=tmp_path)
    test = load_dataset("imagenet-lt", "test", root=tmp_path)
    assert train.classes == val.classes == test.classes == WNIDS
    assert train.counts().tolist() == LT_TRAIN and val.counts().tolist() == LT_VAL
    assert test.counts().tolist() == LT_TEST
    assert (len(train), len(val), len(test)) == (11, 6, 6)
    # the lines' own order and labels, paths under the ImageNet folder
    assert train.labels.tolist() == [y for _, y in lines["train"]]
    assert _relative(train, tmp_path / "imagenet") == [p for p, _ in lines["train"]]
    assert all(p.startswith("train/") for p in _relative(val, tmp_path / "imagenet"))   # val comes from train
    names = [p.rsplit("/", 1)[1] for p, _ in lines["test"]]
    on_disk = [p.rsplit("/", 1)[1] for p in _relative(test, tmp_path / "imagenet")]
    assert on_disk == names and test.labels.tolist() == [y for _, y in lines["test"]]
    if disk_val == "nested":     # remapped into the class folder of the line's label
        assert all(p.split("/")[1] == WNIDS[y] for p, y in zip(_relative(test, tmp_path / "imagenet"), test.labels))
    assert ("remapped" in capsys.readouterr().err) == (test_paths != disk_val)
    x, y = test[3]
    assert tuple(x.shape) == (3, 8, 8) and y == test.labels[3] and test.origins[3] == "ImageNet_LT_test.txt:4"


def test_prefix_map_rules():
    assert remap("val/n014/ILSVRC2012_val_1.JPEG", {"val/*/": "val/"}, "n014") == "val/ILSVRC2012_val_1.JPEG"
    assert remap("val/ILSVRC2012_val_1.JPEG", {"val/": "val/{class}/"}, "n09") == "val/n09/ILSVRC2012_val_1.JPEG"
    assert remap("train/n014/x.JPEG", {"val/": "elsewhere/"}, "n014") == "train/n014/x.JPEG"
    assert remap("val/x.JPEG", {"val/": "/mnt/ilsvrc/val/"}, "c") == "/mnt/ilsvrc/val/x.JPEG"


def test_explicit_prefix_map_and_image_root(tmp_path):
    make_imagenet_lt_layout(tmp_path, "nested", "flat")
    moved = tmp_path / "elsewhere"
    (tmp_path / "imagenet").rename(moved)
    test = load_dataset("imagenet-lt", "test", root=tmp_path, image_root=moved, prefix_map={"val/*/": "val/"})
    assert len(test) == 6 and all("/val/ILSVRC2012_val_" in p for p in test.paths)
    with pytest.raises(DatasetLayoutError, match=r"ImageNet_LT_test\.txt:1: image val/n01440764/"):
        load_dataset("imagenet-lt", "test", root=tmp_path, image_root=moved, prefix_map=None)


def test_places_lt(tmp_path):
    lines = make_places_lt_layout(tmp_path)
    train, val, test = (load_dataset("places-lt", s, root=tmp_path) for s in ("train", "val", "test"))
    assert train.classes == ["airfield", "apartment_building/outdoor", "bakery/shop"]
    assert train.counts().tolist() == [3, 2, 1] and val.counts().tolist() == [1, 1, 1]
    assert test.labels.tolist() == [0, 1, 2] and test.paths[2].endswith("val_256/Places365_val_00000003.jpg")
    assert val.labels.tolist() == [y for _, y in lines["val"]]


def test_imagenet_lt_bad_layouts(tmp_path):
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("imagenet-lt", "train", root=tmp_path)
    message = str(info.value)
    assert "ImageNet_LT_train.txt" in message and str(tmp_path / "ImageNet_LT") in message and "OLTR" in message
    make_imagenet_lt_layout(tmp_path)
    lists = tmp_path / "ImageNet_LT"
    test_lines = (lists / "ImageNet_LT_test.txt").read_text().splitlines()
    # a missing file named in the list: its file and line
    (lists / "ImageNet_LT_test.txt").write_text("\n".join(test_lines[:2] + ["val/n01440764/gone.JPEG 0"]) + "\n")
    with pytest.raises(CorruptImage, match=r"gone\.JPEG, listed at ImageNet_LT_test\.txt:3"):
        load_dataset("imagenet-lt", "test", root=tmp_path)
    # a label out of range
    good = test_lines[1].rsplit(" ", 1)[0]
    (lists / "ImageNet_LT_test.txt").write_text("\n".join(test_lines[:1] + [f"{good} 3"]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"label 3 of sample 1 \(ImageNet_LT_test\.txt:2\) is outside 0\.\.2"):
        load_dataset("imagenet-lt", "test", root=tmp_path)
    # a line without a label
    (lists / "ImageNet_LT_test.txt").write_text(test_lines[0] + "\n" + good + "\n")
    with pytest.raises(DatasetLayoutError, match=r"ImageNet_LT_test\.txt:2: expected 'relative/path label'"):
        load_dataset("imagenet-lt", "test", root=tmp_path)
    # a corrupt image: decoding names the file and line
    (lists / "ImageNet_LT_test.txt").write_text("\n".join(test_lines) + "\n")
    victim = tmp_path / "imagenet" / test_lines[4].rsplit(" ", 1)[0]
    victim.write_bytes(b"\xff\xd8 truncated")
    test = load_dataset("imagenet-lt", "test", root=tmp_path)
    with pytest.raises(CorruptImage, match=r"cannot decode .*listed at ImageNet_LT_test\.txt:5"):
        test[4]
    (lists / "ImageNet_LT_val.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"ImageNet_LT_val\.txt is missing"):
        load_dataset("imagenet-lt", "val", root=tmp_path)


@pytest.mark.parametrize("val", ["folders", "kaggle", "caffe", "devkit"])
def test_ilsvrc2012(tmp_path, val):
    val_labels = make_ilsvrc_layout(tmp_path, val=val)
    train = load_dataset("imagenet", "train", root=tmp_path)
    assert train.classes == WNIDS and train.counts().tolist() == [3, 2, 4] and len(train) == 9
    assert train.paths[0].endswith("imagenet/train/n01440764/n01440764_1.JPEG")
    test = load_dataset("ilsvrc2012", "val", root=tmp_path)
    assert test.classes == WNIDS and test.counts().tolist() == [2, 2, 2]
    by_name = {p.rsplit("/", 1)[1]: int(y) for p, y in zip(test.paths, test.labels)}
    assert by_name == {f"ILSVRC2012_val_{i:08d}.JPEG": y for i, y in enumerate(val_labels, 1)}
    assert tuple(test[0][0].shape) == (3, 8, 8)
    if val == "folders":   # a val folder set without the first class keeps the train class indices
        shutil.rmtree(tmp_path / "imagenet" / "val" / WNIDS[0])
        test = load_dataset("imagenet", "val", root=tmp_path)
        assert test.counts().tolist() == [0, 2, 2] and all(f"/{WNIDS[y]}/" in p for p, y in zip(test.paths,
                                                                                                test.labels))


def test_ilsvrc2012_bad_layouts(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"(?s)train/<wnid>/.*image-net\.org"):
        load_dataset("imagenet", "train", root=tmp_path)
    make_ilsvrc_layout(tmp_path, val="flat-without-labels")
    with pytest.raises(DatasetLayoutError, match=r"flat val images need a labels file; looked for .*LOC_val_solution"):
        load_dataset("imagenet", "val", root=tmp_path)
    (tmp_path / "imagenet" / "val.txt").write_text("ILSVRC2012_val_00000001.JPEG 0\nILSVRC2012_val_00000002.JPEG "
                                                   "n99999999\n")
    with pytest.raises(DatasetLayoutError, match=r"val\.txt:2: label 'n99999999' is not a class index 0\.\.2"):
        load_dataset("imagenet", "val", root=tmp_path)
    (tmp_path / "imagenet" / "val.txt").write_text("ILSVRC2012_val_00000001.JPEG 0\n")
    with pytest.raises(DatasetLayoutError, match=r"ILSVRC2012_val_00000002\.JPEG: no line for it in .*val\.txt"):
        load_dataset("imagenet", "val", root=tmp_path)


def test_subset_keeps_origins_and_labels(tmp_path):
    make_imagenet_lt_layout(tmp_path)
    train = load_dataset("imagenet-lt", "train", root=tmp_path)
    tail = train.subset(np.flatnonzero(train.labels == 2))
    assert tail.labels.tolist() == [2, 2] and tail.num_classes == 3
    assert all(o.startswith("ImageNet_LT_train.txt:") for o in tail.origins)
