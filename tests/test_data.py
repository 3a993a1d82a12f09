"""Loaders on miniature copies of the real layouts; the builders' counts exactly."""
import io
import json
import tarfile

import numpy as np
import pytest

from miniature import make_cifar10_layout, make_cifar100_layout, make_image_folder, make_mnist_layout
from semscale.data import (TABLE7_COUNTS, DatasetNotFound, class_subset, load_dataset, load_image_folder,
                           long_tailed_counts, long_tailed_indices, nested_subsets, subset_with_counts)
from semscale.data import pointclouds
from semscale.sample_space import sample_vectors


def test_long_tailed_counts_known_case():
    # CIFAR-10-LT with imbalance 100 as published by Cao et al. (LDAM) and used by the paper.
    assert long_tailed_counts(5000, 100, 10) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert long_tailed_counts(6000, 1, 3) == [6000, 6000, 6000]


def test_long_tailed_indices_are_seeded_and_exact():
    labels = np.repeat(np.arange(4), 100)
    a = long_tailed_indices(labels, imbalance=10, seed=3)
    b = long_tailed_indices(labels, imbalance=10, seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.bincount(labels[a]).tolist() == long_tailed_counts(100, 10, 4) == [100, 46, 21, 10]


def test_table7_counts_on_fashion_mnist():
    train = load_dataset("fashion-mnist", "train", download=False)
    assert len(train.labels) == 60000 and train.counts().tolist() == [6000] * 10
    for name, counts in TABLE7_COUNTS.items():
        kept = subset_with_counts(train.labels, counts, seed=0)
        assert np.bincount(train.labels[kept]).tolist() == list(counts)
    assert TABLE7_COUNTS["lt2"][-1] == 74 and sum(TABLE7_COUNTS["lt1"]) == 24199


def test_nested_subsets_are_nested():
    labels = np.repeat(np.arange(3), 50)
    subsets = nested_subsets(labels, [5, 20, 50], seed=1)
    assert set(subsets[5]) <= set(subsets[20]) <= set(subsets[50])
    assert np.bincount(labels[subsets[20]]).tolist() == [20, 20, 20]
    with pytest.raises(ValueError, match="51 samples per class"):
        nested_subsets(labels, [51], seed=1)


def test_class_subset_relabels():
    labels = np.array([0, 1, 2, 3, 2, 1])
    idx, new = class_subset(labels, [2, 1])
    assert idx.tolist() == [1, 2, 4, 5] and new.tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_torchvision_layout(tmp_path, compress):
    make_mnist_layout(tmp_path, per_class=4, compress=compress)
    train = load_dataset("mnist", "train", root=tmp_path, download=False)
    assert train.images.shape == (40, 28, 28, 1) and train.counts().tolist() == [4] * 10
    assert len(load_dataset("mnist", "test", root=tmp_path, download=False).labels) == 20


def test_fashion_mnist_user_folder_takes_precedence(tmp_path):
    make_mnist_layout(tmp_path, folder="FashionMNIST/raw", per_class=3)
    assert len(load_dataset("fashion-mnist", root=tmp_path, download=False).labels) == 30


def test_cifar_layouts(tmp_path):
    make_cifar10_layout(tmp_path, per_batch=4)
    c10 = load_dataset("cifar10", "train", root=tmp_path, download=False)
    assert c10.images.shape == (20, 32, 32, 3) and c10.classes[3] == "c3"
    make_cifar100_layout(tmp_path, n=20)
    c100 = load_dataset("cifar-100", "test", root=tmp_path, download=False)
    assert c100.num_classes == 100
    np.testing.assert_array_equal(c100.extras["coarse_labels"], c100.labels // 5)


def test_missing_dataset_message(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("cifar10", root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "semscale fetch cifar10" in message


def test_a_failed_download_says_where_the_data_is_published(tmp_path, monkeypatch):
    """After a download that failed, the fetch command alone would only fail again: the message also names where
    the data is published."""
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tvd, "CIFAR10", offline)
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("cifar10", root=tmp_path, download=True)
    message = str(info.value)
    assert "the download failed (offline?)" in message and "semscale fetch cifar10" in message
    assert "or copy it from www.cs.toronto.edu/~kriz/cifar.html" in message


def test_image_folder(tmp_path):
    make_image_folder(tmp_path / "colour")
    data = load_image_folder(tmp_path / "colour", image_size=16)
    assert data.classes == ["cat", "dog", "emu"] and data.images.shape == (15, 16, 16, 3)
    make_image_folder(tmp_path / "grey", mode="L")
    assert load_image_folder(tmp_path / "grey").images.shape[-1] == 1
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="class 'a': no images"):
        load_image_folder(tmp_path / "empty")


def test_sample_vectors_dimension_and_range(rng):
    grey = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    colour = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    assert sample_vectors(grey).shape == (5, 256) and sample_vectors(colour).shape == (5, 768)
    out = sample_vectors(colour)
    assert out.min() >= 0 and out.max() <= 1
    # A constant image stays constant after resizing.
    np.testing.assert_allclose(sample_vectors(np.full((1, 28, 28), 51, np.uint8)), 0.2, atol=1e-6)


def _npm_tarball(path, member, payload: bytes):
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return path


def test_point_cloud_conversion_and_integrity(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    js = b"exports.positions=" + json.dumps([[0, 0, 0], [1, 2, 3], [4, 5, 6.5]]).encode() + b"\nexports.cells=[[0,1,2]]"
    tarball = _npm_tarball(tmp_path / "bunny.tgz", "package/index.js", js)
    monkeypatch.setitem(pointclouds.POINT_CLOUDS, "bunny", ("bunny@test", "package/index.js",
                                                            pointclouds.integrity(tarball)))
    positions = pointclouds.convert_tarball("bunny", tarball)
    np.testing.assert_array_equal(positions, [[0, 0, 0], [1, 2, 3], [4, 5, 6.5]])
    np.testing.assert_array_equal(pointclouds.load_point_cloud("bunny"), positions)
    monkeypatch.setitem(pointclouds.POINT_CLOUDS, "bunny", ("bunny@test", "package/index.js", "sha512-wrong"))
    with pytest.raises(ValueError, match="does not match the registry"):
        pointclouds.convert_tarball("bunny", tarball)


def test_ascii_ply():
    text = "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n" \
           "element face 0\nend_header\n1 2 3\n4 5 6\n"
    np.testing.assert_array_equal(pointclouds.parse_ascii_ply(text), [[1, 2, 3], [4, 5, 6]])


def test_embedded_point_clouds_when_fetched():
    try:
        bunny = pointclouds.load_point_cloud("bunny")
        dragon = pointclouds.load_point_cloud("dragon")
    except FileNotFoundError:
        pytest.skip("point clouds not fetched (bash run_all.sh --setup-only fetches them)")
    assert bunny.shape == (1839, 3) and dragon.shape[1] == 3 and len(dragon) > 10000
