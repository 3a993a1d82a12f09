"""App. K / Table 12: the ratio of a parent's semantic scale after mixing a child's data in to before, and the
predicted parent (smallest ratio), computed by experiments/hierarchy.py, checked against a plain-loop Eq. 3.

The experiment's training and feature extraction are replaced by fakes: the "features" are the images' pixels, so
the test knows exactly what every volume was computed from (the fakes record each call)."""
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hand_formulas import hand_volume
from semscale.data import ImageDataset

ROOT = Path(__file__).resolve().parent.parent
PARENTS = {"left": [0, 1], "right": [2, 3], "alone": [4]}
CONFIG = {"dataset": "toy", "parents": PARENTS, "split_seed": 3, "child_per_class": 12, "parent_size": 16,
          "epochs": 1, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "schedule": "none", "weight_decay": 0.0,
          "width": 2}
PER_CLASS = 30


def toy_data():
    """Five classes in 3-d; pixel 0 of each image holds its index (not a feature), pixels 1-3 are features.
    Classes 0/1 and 2/3 share a direction, so their parents are what the ratio should find; class 4 is alone."""
    rng = np.random.default_rng(11)
    labels = np.repeat(np.arange(5), PER_CLASS)
    directions = np.array([[1, 0, 0], [1, 0.3, 0], [0, 1, 0], [0.3, 1, 0], [0, 0, 1]], dtype=float)
    features = directions[labels] * rng.normal(0, 3, size=(len(labels), 1)) + rng.normal(0, 0.2, (len(labels), 3))
    images = np.concatenate([np.arange(len(labels))[:, None], features], axis=1).astype(np.float32)
    return ImageDataset("toy", images.reshape(-1, 4, 1, 1), labels, [f"c{c}" for c in range(5)], "test")


@pytest.fixture
def run(monkeypatch):
    spec = importlib.util.spec_from_file_location("hierarchy_under_test", ROOT / "experiments" / "hierarchy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data, seen = toy_data(), {"extracted": [], "experiments": []}

    class FakeExperiment:
        def __init__(self, script, argv=None):
            self.config, self.tables, self.claims = CONFIG, {}, []
            seen["experiments"].append(self)

        def dataset(self, name, split="train"):
            return data

        def train(self, train_set, **settings):
            seen["children"] = train_set
            return SimpleNamespace(network=None)

        def table(self, name, rows, columns, title="", note=""):
            self.tables[name] = rows

        def claim(self, id, description, held, ours, paper="", reason=""):
            self.claims.append((id, held, ours))

        def finish(self, **record):
            return 0

    def extract_features(network, images):
        images = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        seen["extracted"].append(images[:, 0].astype(int))
        return images[:, 1:]

    monkeypatch.setattr(module, "Experiment", FakeExperiment)
    monkeypatch.setattr(module, "extract_features", extract_features)
    assert module.main([]) == 0
    return data, seen, seen["experiments"][0]


def test_ratios_are_parent_volume_after_over_before_by_hand(run):
    data, seen, experiment = run
    features = np.asarray(data.images, dtype=np.float64).reshape(len(data.labels), -1)[:, 1:]
    children_ids, *parent_ids = seen["extracted"]
    assert len(parent_ids) == len(PARENTS)
    parent_features = {name: features[ids] for name, ids in zip(PARENTS, parent_ids)}
    rows = experiment.tables["table12"]
    assert [row["child"] for row in rows] == data.classes
    ratios_seen = []
    for c, row in enumerate(rows):
        child = features[children_ids[data.labels[children_ids] == c]]
        assert len(child) == CONFIG["child_per_class"]
        expected = {name: hand_volume(np.vstack([p, child])) / hand_volume(p) for name, p in parent_features.items()}
        for name in PARENTS:
            assert row[f"ratio {name}"] == pytest.approx(expected[name], rel=1e-9), (c, name)
        ratios_seen.append(expected)
        assert row["predicted parent"] == min(expected, key=expected.get)
        assert row["real parent"] == next(name for name, members in PARENTS.items() if c in members)
        assert row["match"] == (row["predicted parent"] == row["real parent"])
    # the case is informative: ratios differ between parents and exceed 1 (mixing in spreads a parent)
    assert all(len({round(v, 6) for v in r.values()}) == 3 for r in ratios_seen)


def test_parent_data_come_from_member_classes_and_never_share_images_with_children(run):
    data, seen, _ = run
    children_ids, *parent_ids = seen["extracted"]
    np.testing.assert_array_equal(np.sort(children_ids), np.sort(seen["children"].images[:, 0, 0, 0].astype(int)))
    for (name, members), ids in zip(PARENTS.items(), parent_ids):
        share = CONFIG["parent_size"] // len(members)
        np.testing.assert_array_equal(np.bincount(data.labels[ids], minlength=5)[members], [share] * len(members))
        assert set(data.labels[ids].tolist()) == set(members), name
        assert len(set(ids.tolist())) == len(ids), f"{name}: an image drawn twice"
        assert not set(ids.tolist()) & set(children_ids.tolist()), f"{name}: shares images with the children"


def test_claim_counts_the_matches(run):
    _, _, experiment = run
    rows = experiment.tables["table12"]
    (claim_id, held, ours), = experiment.claims
    matched = sum(row["match"] for row in rows)
    assert held == (matched == len(rows))
    assert ours.startswith(f"{matched}/{len(rows)}")
