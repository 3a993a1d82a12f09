"""iNaturalist-2018 from miniature copies of the official COCO-style train2018.json / val2018.json."""
import json

import pytest

from miniature_large import INAT_CATEGORIES, INAT_TRAIN, INAT_VAL, make_inaturalist_layout
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset


@pytest.fixture(autouse=True)
def _no_user_data(tmp_path, monkeypatch):
    monkeypatch.delenv("SEMSCALE_DATA", raising=False)
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))


def test_splits_counts_labels_classes(tmp_path):
    written = make_inaturalist_layout(tmp_path)
    train = load_dataset("inaturalist2018", "train", root=tmp_path)
    val = load_dataset("inat2018", "val", root=tmp_path)
    names = {c["id"]: c["name"] for c in INAT_CATEGORIES}
    assert train.classes == val.classes == [names[0], names[1], names[2]]   # labels = sorted category ids
    assert train.counts().tolist() == [INAT_TRAIN[c] for c in range(3)] and len(train) == 10
    assert val.counts().tolist() == [INAT_VAL[c] for c in range(3)] and len(val) == 4
    assert train.labels.tolist() == [c for _, c in written["train"]]      # JSON image order, annotations matched
    assert [p.split("iNaturalist18/")[1] for p in val.paths] == [f for f, _ in written["val"]]
    assert train.extras["supercategories"] == ["Plantae", "Fungi", "Aves"]
    x, y = val[2]
    assert tuple(x.shape) == (3, 10, 10) and y == val.labels[2]


def test_bad_layouts(tmp_path):
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("inaturalist2018", "train", root=tmp_path)
    assert "train2018.json" in str(info.value) and str(tmp_path / "iNaturalist18") in str(info.value)
    assert "visipedia/inat_comp" in str(info.value)
    make_inaturalist_layout(tmp_path)
    path = tmp_path / "iNaturalist18" / "val2018.json"
    data = json.load(open(path))
    # a category id that no category has: the annotation's index
    bad = json.loads(json.dumps(data))
    bad["annotations"][1]["category_id"] = 9
    json.dump(bad, open(path, "w"))
    with pytest.raises(DatasetLayoutError, match=r"val2018\.json: annotations\[1\] .*category_id 9"):
        load_dataset("inaturalist2018", "val", root=tmp_path)
    # an image the JSON lists but the disk lacks: named with its place in the JSON
    json.dump(data, open(path, "w"))
    (tmp_path / "iNaturalist18" / data["images"][3]["file_name"]).unlink()
    with pytest.raises(CorruptImage, match=r"missing: .*\.jpg, listed at val2018\.json: images\[3\]"):
        load_dataset("inaturalist2018", "val", root=tmp_path)
    # the unlabelled test file in place of val
    json.dump({**data, "annotations": data["annotations"][1:]}, open(path, "w"))
    with pytest.raises(DatasetLayoutError, match=r"images\[\d\] .* has no annotation"):
        load_dataset("inaturalist2018", "val", root=tmp_path)
    path.write_text('{"images": [')
    with pytest.raises(DatasetLayoutError, match=r"val2018\.json:1: not valid JSON"):
        load_dataset("inaturalist2018", "val", root=tmp_path)
    # a corrupt image: decoding names the file and its place in the JSON
    train = load_dataset("inaturalist2018", "train", root=tmp_path)
    open(train.paths[4], "wb").write(b"garbage")
    with pytest.raises(CorruptImage, match=r"cannot decode .*listed at train2018\.json: images\[4\]"):
        train[4]
