"""CUB-200-2011 from a miniature of its archive: the classification split and the metric split, never mixed."""
import pytest

from miniature_metric import grey_of, make_cub
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset


@pytest.fixture(scope="module")
def cub(tmp_path_factory):
    root = tmp_path_factory.mktemp("cub")
    folder, rows = make_cub(root)
    return root, folder, rows


def test_classification_split_follows_train_test_split_txt(cub):
    root, _, rows = cub
    train, test = load_dataset("cub", "train", root=root), load_dataset("cub", "test", root=root)
    want_train = [c - 1 for c, t in rows if t == 1]
    want_test = [c - 1 for c, t in rows if t == 0]
    assert train.labels.tolist() == want_train and test.labels.tolist() == want_test
    assert train.num_classes == test.num_classes == 200
    assert train.classes[0] == "001.Bird_1" and train.classes[199] == "200.Bird_200"
    assert len(train) + len(test) == len(rows) == sum(1 + c % 3 for c in range(1, 201))
    assert train.origins[0].endswith("images.txt:2")         # image 1 (class 1, k=0) is a test image


def test_metric_split_is_classes_1_to_100_then_101_to_200(cub):
    root, _, rows = cub
    train = load_dataset("cub-metric", "train", root=root)
    test = load_dataset("cub-metric", "test", root=root)
    assert train.labels.tolist() == [c - 1 for c, _ in rows if c <= 100]
    assert test.labels.tolist() == [c - 101 for c, _ in rows if c > 100]
    assert len(train) == sum(1 + c % 3 for c in range(1, 101)) and test.num_classes == 100
    assert test.classes[0] == "101.Bird_101" and test.labels[0] == 0        # class 101 is label 0 of test
    assert test.extras["original_label"][0] == 100
    image, label = test[0]
    assert label == 0 and abs(float(image[0, 0, 0]) * 255 - grey_of(100)) <= 2


def test_images_decode_lazily_to_their_class(cub):
    root, _, rows = cub
    train = load_dataset("cub", "train", root=root)
    for i in (0, len(train) // 2, len(train) - 1):
        image, label = train[i]
        assert tuple(image.shape) == (3, 4, 4) and abs(float(image.mean()) * 255 - grey_of(label)) <= 2


def test_missing_dataset_names_files_places_and_publisher(tmp_path):
    with pytest.raises(DatasetNotFound) as error:
        load_dataset("cub", "train", root=tmp_path)
    message = str(error.value)
    assert "CUB_200_2011/images.txt" in message and str(tmp_path) in message and "caltech" in message


def _copy(cub, tmp_path):
    import shutil

    shutil.copytree(cub[1], tmp_path / "CUB_200_2011")
    return tmp_path / "CUB_200_2011"


def test_bad_layouts_name_file_and_line(cub, tmp_path):
    folder = _copy(cub, tmp_path)
    labels = (folder / "image_class_labels.txt").read_text().splitlines()
    labels[4] = labels[4].split()[0] + " 201"
    (folder / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"image_class_labels\.txt:5: class id 201 is outside 1\.\.200"):
        load_dataset("cub", "train", root=tmp_path)
    (folder / "image_class_labels.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing .*image_class_labels\.txt"):
        load_dataset("cub", "train", root=tmp_path)


def test_missing_and_corrupt_images_name_their_list_line(cub, tmp_path):
    folder = _copy(cub, tmp_path)
    lines = (folder / "images.txt").read_text().splitlines()
    (folder / "images" / lines[2].split()[1]).unlink()                        # image 3: class 2, train
    (folder / "images" / lines[4].split()[1]).write_bytes(b"\xff\xd8 not a jpeg")   # image 5: class 3
    data = load_dataset("cub-metric", "train", root=tmp_path)
    with pytest.raises(CorruptImage, match=r"missing.*images\.txt:3"):
        data[2]
    with pytest.raises(CorruptImage, match=r"cannot decode.*images\.txt:5"):
        data[4]
