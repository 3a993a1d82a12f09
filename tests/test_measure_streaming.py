"""`semscale measure` streaming any dataset into ClassMoments in blocks of classes, checked against plain numpy."""
import csv
import json
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from miniature_large import LT_TRAIN, WNIDS, make_imagenet_lt_layout, make_mixed_folder
from semscale.cli import main
from semscale.data import FileImageDataset, load_dataset
from semscale.data.folders import image_folder
from semscale.measure import format_bytes, measure_dataset, parse_bytes, plan_class_blocks
from semscale.sample_space import sample_vectors


@pytest.fixture(autouse=True)
def _no_user_data(tmp_path, monkeypatch):
    monkeypatch.delenv("SEMSCALE_DATA", raising=False)
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))


def reference_volumes(paths, labels, mode, num_classes):
    """Alg. 1 by hand: decode, 16 x 16 sample vectors, then 1/2 log2 det(I + d/m Zc^T Zc) per class with slogdet."""
    volumes, counts = [], []
    for c in range(num_classes):
        images = [np.asarray(Image.open(p).convert(mode)) for p, y in zip(paths, labels) if y == c]
        z = np.concatenate([sample_vectors(im[None]) for im in images])
        m, d = z.shape
        zc = z - z.mean(axis=0)
        sign, logdet = np.linalg.slogdet(np.eye(d) + (d / m) * zc.T @ zc)
        assert sign > 0
        volumes.append(logdet / (2 * np.log(2)))
        counts.append(m)
    return np.array(volumes), counts


def read_scales(folder):
    return list(csv.DictReader(open(folder / "scales.csv")))


def test_cli_measure_imagenet_lt_in_class_blocks_matches_numpy(tmp_path, capsys):
    make_imagenet_lt_layout(tmp_path / "data", test_paths="flat", disk_val="nested")
    out = tmp_path / "out"
    # 30 MB holds one 768 x 768 scatter with its temporaries: three passes, one class each, two worker processes
    assert main(["measure", "imagenet-lt", "--data-dir", str(tmp_path / "data"), "--memory-budget", "30MB",
                 "--workers", "2", "--out", str(out), "--no-plot"]) == 0
    err = capsys.readouterr().err
    assert "measuring 3 blocks of <= 1 classes" in err
    rows = read_scales(out)
    train = load_dataset("imagenet-lt", "train", root=tmp_path / "data")
    expected, counts = reference_volumes(train.paths, train.labels, "RGB", 3)
    assert [r["name"] for r in rows] == WNIDS and [int(r["N"]) for r in rows] == LT_TRAIN == counts
    np.testing.assert_allclose([float(r["volume"]) for r in rows], expected, rtol=1e-9)
    assert json.load(open(out / "record.json"))["settings"]["dim"] == 768
    # the test split (ILSVRC val, remapped from flat list paths to class folders) the same way
    assert main(["measure", "imagenet-lt", "--split", "test", "--data-dir", str(tmp_path / "data"),
                 "--workers", "0", "--out", str(tmp_path / "test"), "--no-plot"]) == 0
    test = load_dataset("imagenet-lt", "test", root=tmp_path / "data")
    expected, _ = reference_volumes(test.paths, test.labels, "RGB", 3)
    np.testing.assert_allclose([float(r["volume"]) for r in read_scales(tmp_path / "test")], expected, rtol=1e-9)
    # images moved elsewhere, paths rewritten by hand
    (tmp_path / "data" / "imagenet").rename(tmp_path / "ilsvrc")
    assert main(["measure", "imagenet-lt", "--split", "test", "--data-dir", str(tmp_path / "data"), "--image-root",
                 str(tmp_path / "ilsvrc"), "--prefix-map", "val/={class}/", "--out", str(tmp_path / "moved"),
                 "--no-plot"]) == 2
    assert "ImageNet_LT_test.txt:1: image val/ILSVRC2012_val_00000001.JPEG not found" in capsys.readouterr().err
    assert main(["measure", "imagenet-lt", "--split", "test", "--data-dir", str(tmp_path / "data"), "--image-root",
                 str(tmp_path / "ilsvrc"), "--prefix-map", "val/=val/{class}/", "--out", str(tmp_path / "moved"),
                 "--no-plot"]) == 0
    assert read_scales(tmp_path / "moved") == read_scales(tmp_path / "test")


def test_cli_measure_folder_with_later_colour_images(tmp_path, capsys):
    folder = make_mixed_folder(tmp_path / "mixed", (("a", 6, 10), ("b", 3, 5), ("c", 4, 0)))
    assert main(["measure", str(folder), "--out", str(tmp_path / "o"), "--no-plot", "--workers", "0"]) == 0
    assert "15 colour and 13 grey images; decoding all as colour (RGB)" in capsys.readouterr().err
    data = image_folder(folder, mode="RGB")
    expected, counts = reference_volumes(data.paths, data.labels, "RGB", 3)
    rows = read_scales(tmp_path / "o")
    assert [r["name"] for r in rows] == ["a", "b", "c"] and [int(r["N"]) for r in rows] == counts == [16, 8, 4]
    np.testing.assert_allclose([float(r["volume"]) for r in rows], expected, rtol=1e-9)
    assert json.load(open(tmp_path / "o" / "record.json"))["settings"]["dim"] == 768
    # --mode L: grey, d = 256
    assert main(["measure", str(folder), "--mode", "L", "--out", str(tmp_path / "g"), "--no-plot"]) == 0
    expected, _ = reference_volumes(data.paths, data.labels, "L", 3)
    np.testing.assert_allclose([float(r["volume"]) for r in read_scales(tmp_path / "g")], expected, rtol=1e-9)
    assert json.load(open(tmp_path / "g" / "record.json"))["settings"]["dim"] == 256


def test_every_image_is_decoded_once_whatever_the_number_of_passes(tmp_path, monkeypatch):
    folder = make_mixed_folder(tmp_path / "f", tuple((name, 0, 3 + k) for k, name in enumerate("pqrst")))
    data = image_folder(folder, mode="RGB")
    decoded = []
    original = FileImageDataset.load
    monkeypatch.setattr(FileImageDataset, "load", lambda self, i: (decoded.append(self.paths[i]), original(self, i))[1])
    one_pass = measure_dataset(data, workers=0)
    assert sorted(decoded) == sorted(data.paths)
    decoded.clear()
    blocks = measure_dataset(data, workers=0, memory_budget="26MB", chunk=64)   # two classes a pass
    assert sorted(decoded) == sorted(data.paths)
    assert plan_class_blocks(5, 768, parse_bytes("26MB"), 64).blocks[-1].tolist() == [4]
    np.testing.assert_allclose(blocks.scales.volume, one_pass.scales.volume, rtol=1e-12)
    np.testing.assert_allclose(blocks.centres, one_pass.centres, rtol=1e-12)
    np.testing.assert_array_equal(blocks.counts, [3, 4, 5, 6, 7])


def test_adding_a_few_classes_at_a_time_gives_the_moments_of_all(rng):
    from semscale.measure import _add_by_pieces
    from semscale.moments import ClassMoments

    features, labels = rng.normal(size=(60, 5)), rng.integers(0, 7, size=60)
    pieces = ClassMoments(7, 5)
    _add_by_pieces(pieces, features[:40], labels[:40], piece=2)
    _add_by_pieces(pieces, features[40:], labels[40:], piece=3)
    for c in range(7):
        z = features[labels == c]
        assert pieces.counts[c] == len(z)
        np.testing.assert_allclose(pieces.means[c], z.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(pieces.scatters[c], (z - z.mean(0)).T @ (z - z.mean(0)), atol=1e-10)


def test_block_plan_and_budget_parsing():
    assert parse_bytes("4GB") == 4 * 10**9 and parse_bytes("512 MiB") == 512 * 2**20 and parse_bytes(1000) == 1000
    assert parse_bytes("2e9") == 2 * 10**9 and format_bytes(4.7e9) == "4.7 GB"
    plan = plan_class_blocks(1000, 768, parse_bytes("4GB"), 8192)     # ImageNet at d = 768: two passes
    sizes = [len(b) for b in plan.blocks]
    assert len(sizes) == 2 and sum(sizes) == 1000
    assert np.array_equal(np.concatenate(plan.blocks), np.arange(1000))
    per_class = 8 * 768 * 768
    assert max(sizes) * per_class < 4e9 < 1000 * per_class
    assert len(plan_class_blocks(1000, 768, parse_bytes("24GB"), 8192).blocks) == 1
    with pytest.raises(ValueError, match="memory budget 4 MB is too small for one class at d = 768"):
        plan_class_blocks(10, 768, parse_bytes("4MB"), 8192)
    with pytest.raises(ValueError, match="expected a size such as 4GB"):
        parse_bytes("four gigs")


def test_cli_bad_inputs_give_one_line(tmp_path, capsys):
    assert main(["measure", "imagenet-lt", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "dataset 'imagenet-lt' not found" in err and "ImageNet_LT_train.txt" in err and "OLTR" in err
    make_mixed_folder(tmp_path / "f", (("a", 0, 3), ("b", 0, 3)))
    assert main(["measure", str(tmp_path / "f"), "--memory-budget", "1MB", "--out", str(tmp_path / "o")]) == 2
    assert "raise --memory-budget" in capsys.readouterr().err
    assert main(["measure", "digits", "--mode", "RGB", "--out", str(tmp_path / "o")]) == 2
    assert "--mode: digits is held in memory" in capsys.readouterr().err
    assert main(["measure", "digits", "--image-root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--image-root: dataset 'digits' does not take it" in capsys.readouterr().err
    assert main(["measure", "digits", "--split", "val", "--out", str(tmp_path / "o")]) == 2
    assert "split 'val' is not one of" in capsys.readouterr().err
    (tmp_path / "f" / "b" / "0002.png").write_bytes(b"\x89PNG no")
    assert main(["measure", str(tmp_path / "f"), "--mode", "RGB", "--workers", "0", "--out", str(tmp_path / "o")]) == 2
    assert "cannot decode" in capsys.readouterr().err


def test_datasets_command_lists_names_files_roots_and_publishers(tmp_path, capsys):
    make_imagenet_lt_layout(tmp_path)
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"folders searched (--data-dir, SEMSCALE_DATA, the cache): {tmp_path}" in out
    assert f"imagenet-lt  [train, val, test]  FOUND {tmp_path}/ImageNet_LT/ImageNet_LT_train.txt" in out
    assert "inaturalist2018  [train, val]  not found" in out and "looks for: iNaturalist18/train2018.json" in out
    for name in ("places-lt", "imagenet", "cifar10", "digits"):
        assert f"\n{name}  [" in out
    assert "published: image-net.org" in out
    assert main(["datasets", "--json", "--data-dir", str(tmp_path)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["imagenet"]["found"] == str(tmp_path / "imagenet" / "train")


def _peak_traced_bytes(folder) -> int:
    data = image_folder(folder, mode="L", announce=False)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        measure_dataset(data, workers=0, chunk=64)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_images(tmp_path):
    """Peak traced memory of measuring a folder of N and of 4N images: streaming keeps it flat (a reader that holds
    every image's sample vector would add 2 kB an image, 2.4 MB more at 4N over a ~3 MB base)."""
    small = make_mixed_folder(tmp_path / "n", (("a", 200, 0), ("b", 200, 0)), size=8, seed=1)
    large = make_mixed_folder(tmp_path / "4n", (("a", 800, 0), ("b", 800, 0)), size=8, seed=2)
    ratio = _peak_traced_bytes(large) / _peak_traced_bytes(small)
    assert ratio < 1.15, ratio
