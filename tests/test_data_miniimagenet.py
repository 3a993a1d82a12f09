"""Mini-ImageNet from the Ravi & Larochelle csv files: 100-class classification and the 64 / 36 metric split."""
import numpy as np
import pytest

from miniature_metric import grey_of, make_mini_imagenet
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    folder, wnids = make_mini_imagenet(root)
    return root, folder, wnids


def test_classification_is_a_seeded_5_to_1_split_of_every_class(mini):
    root, _, wnids = mini
    train = load_dataset("mini-imagenet", "train", root=root, seed=3)
    test = load_dataset("mini-imagenet", "test", root=root, seed=3)
    assert train.classes == wnids and train.num_classes == 100
    assert train.counts().tolist() == [5] * 100 and test.counts().tolist() == [1] * 100
    assert not set(train.paths) & set(test.paths)
    again = load_dataset("mini-imagenet", "test", root=root, seed=3)
    other = load_dataset("mini-imagenet", "test", root=root, seed=4)
    assert again.paths == test.paths and other.paths != test.paths
    assert test.extras["split_seed"] == 3
    for i in (0, 57, 99):
        image, label = test[i]
        assert abs(float(image.mean()) * 255 - grey_of(label)) <= 2
        assert wnids[label] in test.paths[i]


def test_metric_split_first_64_then_last_36_in_csv_order(mini):
    root, _, wnids = mini
    train = load_dataset("mini-imagenet-metric", "train", root=root)
    test = load_dataset("mini-imagenet-metric", "test", root=root)
    assert train.classes == wnids[:64] and test.classes == wnids[64:]
    assert train.labels.tolist() == list(np.repeat(np.arange(64), 6))
    assert test.labels.tolist() == list(np.repeat(np.arange(36), 6))
    image, label = test[0]                                   # val.csv's first class is label 0 of the test split
    assert label == 0 and abs(float(image.mean()) * 255 - grey_of(64)) <= 2
    assert test.origins[0].endswith("val.csv:2")


def test_bad_layouts(mini, tmp_path):
    import shutil

    folder = shutil.copytree(mini[1], tmp_path / "mini-imagenet")
    lines = (folder / "test.csv").read_text().splitlines()
    (folder / "test.csv").write_text("\n".join(lines[:3] + [lines[3].split(",")[0]] + lines[4:]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"test\.csv:4: expected 2 fields, got 1"):
        load_dataset("mini-imagenet", "train", root=tmp_path)
    lines[3] = lines[3].split(",")[0] + "," + mini[2][0]                # a train class in test.csv
    (folder / "test.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"test\.csv:4: class .* also appears in train\.csv"):
        load_dataset("mini-imagenet-metric", "test", root=tmp_path)
    (folder / "test.csv").write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    (folder / "images" / lines[1].split(",")[0]).unlink()
    data = load_dataset("mini-imagenet-metric", "test", root=tmp_path)
    first_test_image = data.origins.index(f"{folder / 'test.csv'}:2")
    with pytest.raises(CorruptImage, match=r"missing.*test\.csv:2"):
        data[first_test_image]
    (folder / "val.csv").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing .*val\.csv"):
        load_dataset("mini-imagenet", "train", root=tmp_path)


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"(?s)mini-imagenet/train\.csv.*meta-learning-lstm"):
        load_dataset("mini-imagenet", "train", root=tmp_path)
