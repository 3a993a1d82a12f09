"""RSSCN7 (50% train) and NWPU-RESISC45 (20% train) from class folders: seeded splits at the official ratios."""
import math

import pytest

from miniature_metric import grey_of, make_scene_folders
from semscale.data import CorruptImage, DatasetLayoutError, DatasetNotFound, load_dataset


def test_rsscn7_half_of_every_class_trains(tmp_path):
    sizes = [4, 6, 5, 8, 2, 3, 7]                      # odd sizes: round half up (5 -> 3 train, 3 -> 2, 7 -> 4)
    folder, names = make_scene_folders(tmp_path, "rsscn7", sizes)
    train = load_dataset("rsscn7", "train", root=tmp_path, seed=7)
    test = load_dataset("rsscn7", "test", root=tmp_path, seed=7)
    assert train.classes == names and test.classes == names
    assert train.counts().tolist() == [math.floor(0.5 * n + 0.5) for n in sizes] == [2, 3, 3, 4, 1, 2, 4]
    assert (train.counts() + test.counts()).tolist() == sizes
    assert not set(train.paths) & set(test.paths) and train.extras["split_seed"] == 7
    assert load_dataset("rsscn7", "train", root=tmp_path, seed=7).paths == train.paths
    assert load_dataset("rsscn7", "train", root=tmp_path, seed=8).paths != train.paths
    for i in (0, len(test) - 1):
        image, label = test[i]
        assert abs(float(image.mean()) * 255 - grey_of(label)) <= 2 and f"/{names[label]}/" in test.paths[i]


def test_nwpu_resisc45_a_fifth_of_every_class_trains(tmp_path):
    sizes = [10] * 44 + [7]
    folder, names = make_scene_folders(tmp_path, "nwpu-resisc45", sizes)
    train = load_dataset("nwpu-resisc45", "train", root=tmp_path)
    test = load_dataset("nwpu-resisc45", "test", root=tmp_path)
    assert train.num_classes == 45 and train.classes[:2] == ["airplane", "airport"]
    assert train.counts().tolist() == [2] * 44 + [1] and test.counts().tolist() == [8] * 44 + [6]


def test_bad_folders(tmp_path):
    folder, names = make_scene_folders(tmp_path, "rsscn7", [2] * 7)
    (folder / names[2] / "c001.jpg").write_bytes(b"garbage")
    for split in ("train", "test"):
        data = load_dataset("rsscn7", split, root=tmp_path)
        for i, path in enumerate(data.paths):
            if path.endswith("c001.jpg"):
                with pytest.raises(CorruptImage, match=r"cannot decode .*cIndustry/c001\.jpg"):
                    data[i]
    (folder / "hGolf").mkdir()
    stray = next((folder / names[0]).iterdir())
    (folder / "hGolf" / stray.name).write_bytes(stray.read_bytes())
    with pytest.raises(DatasetLayoutError, match=r"holds 8 class folders, expected 7"):
        load_dataset("rsscn7", "train", root=tmp_path)
    (folder / "hGolf" / stray.name).unlink()
    (folder / "hGolf").rmdir()
    for f in (folder / names[6]).iterdir():
        f.unlink()
    with pytest.raises(DatasetLayoutError, match=r"class 'gParking': no images in .*gParking"):
        load_dataset("rsscn7", "train", root=tmp_path)


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"(?s)NWPU-RESISC45/airplane.*Cheng et al"):
        load_dataset("nwpu-resisc45", "train", root=tmp_path)
