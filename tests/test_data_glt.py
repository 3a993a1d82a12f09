"""MSCOCO-GLT from the GLT benchmark's annotation JSON: splits, per-sample extras, the CLT / GLT / ALT protocols."""
import json

import numpy as np
import pytest

from miniature_metric import GLT_CLASSES, grey_of, make_mscoco_glt
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset
from semscale.data.glt import glt_protocol

LT, BL = "coco_intra_lt_inter_lt.json", "coco_intra_lt_inter_bl.json"


@pytest.fixture(scope="module")
def glt(tmp_path_factory):
    root = tmp_path_factory.mktemp("glt")
    folder, expected = make_mscoco_glt(root)
    return root, folder, expected, {"/data4/coco_glt/images/": str(folder / "images") + "/"}


def test_every_split_of_the_long_tailed_file(glt):
    root, _, expected, _ = glt
    for split, rows in expected[LT].items():
        data = load_dataset("mscoco-glt", split, root=root)
        assert data.labels.tolist() == [r[1] for r in rows] and data.classes == GLT_CLASSES
        assert data.extras["frequency"].tolist() == [r[2] for r in rows]
        assert data.extras["attribute"].tolist() == [r[3] for r in rows]
        assert data.paths == [str(r[4]) for r in rows]
    train = load_dataset("mscoco-glt", "train", root=root)
    assert train.counts().tolist() == [4, 2, 1]
    image, label = train[6]
    assert label == 2 and abs(float(image.mean()) * 255 - grey_of(2)) <= 2
    sub = train.subset([0, 6])                                          # extras follow a subset
    assert sub.extras["attribute"].tolist() == [expected[LT]["train"][i][3] for i in (0, 6)]


def test_balanced_file_with_remapped_absolute_paths_and_vector_attributes(glt):
    root, _, expected, remap = glt
    data = load_dataset("mscoco-glt", "cbl_test_bbl", root=root, remap=remap)
    rows = expected[BL]["test_bbl"]
    assert data.labels.tolist() == [r[1] for r in rows] and data.paths == [str(r[4]) for r in rows]
    assert data.extras["attribute"].shape == (6, 4)
    assert np.array_equal(data.extras["attribute"], np.asarray([r[3] for r in rows], dtype=np.float32))
    image, label = data[5]
    assert label == 2 and abs(float(image.mean()) * 255 - grey_of(2)) <= 2
    unmapped = load_dataset("mscoco-glt", "cbl_train", root=root)
    with pytest.raises(CorruptImage, match=r"missing.*/data4/coco_glt.*coco_intra_lt_inter_bl\.json:train\["):
        unmapped[0]


@pytest.mark.parametrize("protocol, train_file, train_split, test_file, test_split", [
    ("CLT", LT, "train", LT, "test_bl"), ("GLT", LT, "train", LT, "test_bbl"), ("ALT", BL, "train", BL, "test_bbl")])
def test_protocols_pair_the_right_sets(glt, protocol, train_file, train_split, test_file, test_split):
    root, _, expected, remap = glt
    train, test = glt_protocol("mscoco-glt", protocol, root=root, remap=remap)
    assert list(train.extras["sample_id"]) == [r[0] for r in expected[train_file][train_split]]
    assert list(test.extras["sample_id"]) == [r[0] for r in expected[test_file][test_split]]


def test_bad_annotation_files(glt, tmp_path):
    import shutil

    folder = shutil.copytree(glt[1], tmp_path / "MSCOCO-GLT")
    content = json.loads((folder / LT).read_text())
    key = next(iter(content["test_bl"]["label"]))
    content["test_bl"]["label"][key] = 3
    (folder / LT).write_text(json.dumps(content))
    with pytest.raises(DatasetLayoutError, match=rf"label 3 of sample 0 \(.*{LT}:test_bl\['{key}'\]\) is outside 0\.\.2"):
        load_dataset("mscoco-glt", "test_bl", root=tmp_path)
    del content["test_bl"]["path"][key]
    (folder / LT).write_text(json.dumps(content))
    with pytest.raises(DatasetLayoutError, match=rf"{LT}:test_bl\['{key}'\] has a label but no path"):
        load_dataset("mscoco-glt", "test_bl", root=tmp_path)
    (folder / LT).write_text('{"train": {"label": {"1": 0,}}}')
    with pytest.raises(DatasetLayoutError, match=rf"{LT}:1:\d+: not valid JSON"):
        load_dataset("mscoco-glt", "train", root=tmp_path)
    (folder / BL).unlink()
    with pytest.raises(DatasetLayoutError, match=rf"{BL}, which is not in"):
        glt_protocol("mscoco-glt", "ALT", root=tmp_path)
    with pytest.raises(ValueError, match="protocol 'XLT'"):
        glt_protocol("mscoco-glt", "XLT", root=tmp_path)


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"(?s)ImageNet-GLT/imagenet_sup_intra_lt_inter_lt\.json.*KaihuaTang"):
        load_dataset("imagenet-glt", "train", root=tmp_path)
