"""OIA-ODIR (7 single-label classes, App. D.6.1) and OIA-ODIR-B (balanced, seeded) from the release's sheets."""
import pytest

from miniature_metric import ODIR_PARTS, grey_of, make_oia_odir
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset


@pytest.fixture(scope="module")
def odir(tmp_path_factory):
    root = tmp_path_factory.mktemp("odir")
    folder, expected = make_oia_odir(root)
    return root, folder, expected


def _single_label(expected, parts, first=False):
    """(label, ID) of every kept patient, by a plain loop over the rows written."""
    kept = []
    for part in parts:
        for _, pid, flags in expected[part]:
            positive = [i for i in range(7) if flags[i]]
            if flags[7] or not positive or (len(positive) > 1 and not first):
                continue
            kept.append((positive[0], str(pid)))
    return kept


def test_train_and_test_keep_single_label_patients_both_eyes(odir):
    root, _, expected = odir
    train = load_dataset("oia-odir", "train", root=root)
    want = _single_label(expected, ["Training Set"])
    assert train.labels.tolist() == [label for label, _ in want for _ in range(2)]
    assert list(train.extras["patient_id"]) == [pid for _, pid in want for _ in range(2)]
    assert list(train.extras["eye"][:2]) == ["left", "right"]
    assert train.classes == ["N", "D", "G", "C", "A", "H", "M"]
    assert train.counts().tolist() == [2 * n for n in ODIR_PARTS["Training Set"][1]]
    test = load_dataset("oia-odir", "test", root=root, eyes="left")
    assert test.labels.tolist() == [label for label, _ in _single_label(expected, ["Off-site Test Set",
                                                                                   "On-site Test Set"])]
    assert test.origins[-1].endswith("on-site test annotation (English).csv:row 8")
    onsite = load_dataset("oia-odir", "test-onsite", root=root, eyes="right")
    assert onsite.counts().tolist() == [1] * 7 and onsite.paths[0].endswith("_right.jpg")
    image, label = train[len(train) - 1]
    assert label == 6 and abs(float(image.mean()) * 255 - grey_of(6)) <= 2


def test_multi_label_first_keeps_the_d_plus_h_patient(odir):
    root, _, expected = odir
    first = load_dataset("oia-odir", "train", root=root, eyes="left", multi_label="first")
    assert first.labels.tolist() == [label for label, _ in _single_label(expected, ["Training Set"], first=True)]
    assert first.counts().tolist()[1] == ODIR_PARTS["Training Set"][1][1] + 1


def test_balanced_version_takes_the_smallest_class_count_seeded(odir):
    root, _, _ = odir
    train = load_dataset("oia-odir-b", "train", root=root, seed=1)
    test = load_dataset("oia-odir-b", "test", root=root, seed=1, eyes="left")
    assert train.counts().tolist() == [4] * 7 and test.counts().tolist() == [2] * 7      # H: 2, G: 1 + 1
    pids = list(train.extras["patient_id"])
    assert pids[0::2] == pids[1::2]                                   # both eyes of a drawn patient, together
    again = load_dataset("oia-odir-b", "train", root=root, seed=1)
    other = load_dataset("oia-odir-b", "train", root=root, seed=2)
    assert again.paths == train.paths and other.paths != train.paths and train.extras["subset_seed"] == 1
    fixed = load_dataset("oia-odir-b", "train", root=root, per_class=1, eyes="left")
    assert fixed.counts().tolist() == [1] * 7
    with pytest.raises(DatasetLayoutError, match=r"3 patients a class .* class H has 2"):
        load_dataset("oia-odir-b", "train", root=root, per_class=3)


def test_bad_sheets_name_file_and_row(odir, tmp_path):
    import csv
    import shutil

    folder = shutil.copytree(odir[1], tmp_path / "OIA-ODIR")
    sheet = folder / "On-site Test Set" / "Annotation" / "on-site test annotation (English).csv"
    rows = list(csv.reader(open(sheet)))
    rows[3][12] = "2"                                                        # column H of sheet row 4
    csv.writer(open(sheet, "w", newline="")).writerows(rows)
    with pytest.raises(DatasetLayoutError, match=r"English\)\.csv:row 4: column H holds '2', expected 0 or 1"):
        load_dataset("oia-odir", "test", root=tmp_path)
    csv.writer(open(sheet, "w", newline="")).writerows([r[:-1] for r in rows])
    with pytest.raises(DatasetLayoutError, match=r"row 1 lacks column\(s\) \['O'\]"):
        load_dataset("oia-odir", "test-onsite", root=tmp_path)
    (folder / "Training Set" / "Images" / "0_right.jpg").unlink()
    data = load_dataset("oia-odir", "train", root=tmp_path)
    with pytest.raises(CorruptImage, match=r"missing.*0_right\.jpg.*training annotation \(English\)\.xlsx:row 2"):
        data[1]


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"(?s)OIA-ODIR/Training Set/Annotation.*nkicsl"):
        load_dataset("oia-odir-b", "train", root=tmp_path)
