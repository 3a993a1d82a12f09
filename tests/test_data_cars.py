"""Cars196 in its three layouts (car_ims + cars_annos.mat, cars_annos.txt re-packaging, Kaggle folders)."""
import numpy as np
import pytest

from miniature_metric import cars_counts, grey_of, make_cars_kaggle, make_cars_mat, make_cars_text
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset


@pytest.fixture(scope="module")
def mat_layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("cars_mat")
    return (root, *make_cars_mat(root))


def test_mat_layout_classification_split_from_test_flag(mat_layout):
    root, _, rows = mat_layout
    train, test = load_dataset("cars196", "train", root=root), load_dataset("cars196", "test", root=root)
    assert train.labels.tolist() == [c - 1 for _, c, t in rows if t == 0]
    assert test.labels.tolist() == [c - 1 for _, c, t in rows if t == 1]
    assert len(train) + len(test) == sum(cars_counts()) and train.num_classes == 196
    assert train.classes[0] == "Make 1 Model 2001" and train.paths[0].endswith("car_ims/000001.jpg")
    assert train.origins[1].endswith("cars_annos.mat:annotations[2]")    # record 1 is a test image


def test_mat_layout_metric_split_is_classes_1_98_then_99_196(mat_layout):
    root, _, rows = mat_layout
    train = load_dataset("cars196-metric", "train", root=root)
    test = load_dataset("cars196-metric", "test", root=root)
    assert train.labels.tolist() == [c - 1 for _, c, _ in rows if c <= 98]
    assert test.labels.tolist() == [c - 99 for _, c, _ in rows if c >= 99]
    assert train.num_classes == test.num_classes == 98 and test.classes[0] == "Make 99 Model 2008"
    image, label = test[0]
    assert label == 0 and abs(float(image.mean()) * 255 - grey_of(98)) <= 2


def test_text_layout_reads_moved_images_and_has_no_classification_split(tmp_path):
    _, rows = make_cars_text(tmp_path)
    train = load_dataset("cars196-metric", "train", root=tmp_path)
    test = load_dataset("cars196-metric", "test", root=tmp_path)
    assert len(train) == sum(cars_counts()[:98]) and len(test) == sum(cars_counts()[98:])
    assert test.labels.tolist() == [c - 99 for _, c, _ in rows if c >= 99] and test.classes[0] == "99"
    assert "/test/99/" in test.paths[0] and "/train/98/" in train.paths[-1]
    image, label = train[len(train) - 1]
    assert label == 97 and abs(float(image.mean()) * 255 - grey_of(97)) <= 2
    image, label = test[len(test) - 1]
    assert label == 97 and abs(float(image.mean()) * 255 - grey_of(195)) <= 2
    with pytest.raises(DatasetLayoutError, match="no test column"):
        load_dataset("cars196", "train", root=tmp_path)


def test_kaggle_layout_joins_both_folders(tmp_path):
    _, rows, names = make_cars_kaggle(tmp_path)
    train = load_dataset("cars196", "train", root=tmp_path)
    assert train.labels.tolist() == [c - 1 for s, _, c in rows if s == "train"] and train.classes == names
    metric_test = load_dataset("cars196-metric", "test", root=tmp_path)
    assert len(metric_test) == sum(cars_counts()[98:])
    assert metric_test.labels.tolist() == [c - 99 for s in ("train", "test") for t, _, c in rows
                                           if t == s and c >= 99]
    slash = train.labels.tolist().index(6)                  # class 7's name holds a "/", its folder a "-"
    image, label = train[slash]
    assert label == 6 and abs(float(image.mean()) * 255 - grey_of(6)) <= 2 and "Model-Van" in train.paths[slash]


def test_errors_name_file_and_line(tmp_path):
    folder, _ = make_cars_text(tmp_path)
    lines = (folder / "cars_annos.txt").read_text().splitlines()
    lines[6] = lines[6].split(",")[0] + ",197"
    (folder / "cars_annos.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"cars_annos\.txt:7: class 197 is outside 1\.\.196"):
        load_dataset("cars196-metric", "train", root=tmp_path)
    lines[6] = lines[6].split(",")[0] + ",4"
    (folder / "cars_annos.txt").write_text("\n".join(lines) + "\n")
    (folder / "train" / "1" / "000001.jpg").unlink()
    data = load_dataset("cars196-metric", "train", root=tmp_path)
    with pytest.raises(CorruptImage, match=r"missing.*000001\.jpg.*cars_annos\.txt:1"):
        data[0]


def test_mat_errors_name_the_record(tmp_path):
    from scipy.io import loadmat, savemat

    folder, _ = make_cars_mat(tmp_path)
    content = loadmat(folder / "cars_annos.mat")
    content["annotations"][0, 3]["class"] = np.array([[0]], np.uint8)
    savemat(folder / "cars_annos.mat", {k: content[k] for k in ("annotations", "class_names")})
    with pytest.raises(DatasetLayoutError, match=r"cars_annos\.mat:annotations\[3\]: class 0 is outside"):
        load_dataset("cars196", "train", root=tmp_path)


def test_missing_dataset_one_message(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"(?s)cars196/cars_annos\.mat.*car_data.*stanford\.edu"):
        load_dataset("cars196-metric", "train", root=tmp_path)
