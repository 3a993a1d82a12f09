"""experiments/metric_learning.py (Sec. 5.3, App. D.5): the judged pairs and their verdicts on constructed runs,
the paper's printed differences, the unseen-class splits, a smoke run, and the paper profile on miniature layouts."""
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "experiments"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import metric_learning as ml  # noqa: E402
from miniature_metric import make_cifar100_balanced, make_cub  # noqa: E402

# ------------------------------------------------------------------ claim logic on constructed runs

SETTINGS = {"bal": {"dims": [64], "weightings": ["none", "dsb"]},
            "lt": {"dims": [64], "weightings": ["none", "cb", "dsb"], "imbalance": 10}}
CFG = {"run": ["bal", "lt"], "losses": ["nsm"], "settings": SETTINGS}


def _rows(gain_r1, gain_nmi, over_cb, seeds=5):
    """Runs whose DSB minus plain differences per seed are known: gain + a seed wobble (0.5 * (-1)^seed)."""
    rows = []
    for name in ("bal", "lt"):
        for seed in range(seeds):
            wobble = 0.5 * (-1) ** seed
            base = {"none": 0.0, "cb": gain_r1 - over_cb, "dsb": gain_r1 + wobble}
            base_nmi = {"none": 0.0, "cb": gain_nmi - over_cb, "dsb": gain_nmi + wobble}
            for weighting in SETTINGS[name]["weightings"]:
                rows.append({"setting": name, "dim": 64, "loss": "nsm", "weighting": weighting, "seed": seed,
                             "r1": 50 + seed + base[weighting], "nmi": 40 - seed + base_nmi[weighting]})
    return rows


def _t_interval(values):
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def test_pairs_judged_where_the_paper_judges_them():
    assert ml.pairs_of(["none", "dsb"], imbalanced=False) == [("none", "dsb")]
    assert ml.pairs_of(["none", "cb", "dsb"], imbalanced=False) == [("none", "dsb")]  # CB = plain on balanced
    assert ml.pairs_of(["none", "cb", "dsb"], imbalanced=True) == [("none", "dsb"), ("cb", "dsb")]
    assert ml.long_tailed({"long_tailed": True}) and ml.long_tailed({"imbalance": 50})
    assert not ml.long_tailed({"imbalance": None})


def test_known_gains_give_known_intervals_and_verdicts():
    pairs = ml.judged_pairs(_rows(gain_r1=2.0, gain_nmi=-2.0, over_cb=1.0), CFG)
    keyed = {(p["setting"], p["base"], p["metric"]): p for p in pairs}
    assert sorted(keyed) == sorted([("bal", "NormSoftmax", "r1"), ("bal", "NormSoftmax", "nmi"),
                                    ("lt", "NormSoftmax", "r1"), ("lt", "NormSoftmax", "nmi"),
                                    ("lt", "CB-NSM", "r1"), ("lt", "CB-NSM", "nmi")])
    wobble = [0.5 * (-1) ** s for s in range(5)]
    r1 = keyed["bal", "NormSoftmax", "r1"]
    low, high = _t_interval([2.0 + w for w in wobble])
    assert r1["triple"] == pytest.approx((2.1, low, high))  # mean of the wobble is +0.1
    assert r1["verdict"] is True and r1["method"] == "DSB-NSM" and r1["seeds"] == 5
    nmi = keyed["bal", "NormSoftmax", "nmi"]
    assert nmi["triple"][0] == pytest.approx(-1.9) and nmi["verdict"] is False
    over_cb = keyed["lt", "CB-NSM", "r1"]
    low, high = _t_interval([1.0 + w for w in wobble])
    assert over_cb["triple"] == pytest.approx((1.1, low, high)) and over_cb["verdict"] is True


def test_a_gain_inside_the_noise_is_not_held():
    # Gain 0.2 with a wobble of 0.5: the interval straddles 0.
    pairs = ml.judged_pairs(_rows(gain_r1=0.2, gain_nmi=0.2, over_cb=0.2), CFG)
    assert all(p["verdict"] is False for p in pairs)
    assert all(p["triple"][1] < 0 < p["triple"][2] for p in pairs)


def test_pairs_match_seeds_not_row_order():
    rows = _rows(gain_r1=2.0, gain_nmi=2.0, over_cb=1.0)
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    assert [p["triple"] for p in ml.judged_pairs(shuffled, CFG)] == \
        pytest.approx([p["triple"] for p in ml.judged_pairs(rows, CFG)])


def _paper_tables(folder: Path):
    header = "table,row,column,value,tolerance\n"
    (folder / "table_4.csv").write_text(header + "Table 4,dim 64 NormSoftmax,CUB-2011 R@1,57.8,0.1\n"
                                        "Table 4,dim 64 DSB-NSM,CUB-2011 R@1,59.2,0.1\n"
                                        "Table 4,dim 64 DSB-NSM minus NormSoftmax,CUB-2011 R@1,1.4,0.1\n"
                                        "Table 4,dim 64 DSB-NSM,CUB-2011 NMI,66.5,0.1\n")
    (folder / "table_5.csv").write_text(header + "Table 5,dim 64 CB-NSM,CIFAR-100-LT 10 NMI,63.3,0.1\n"
                                        "Table 5,dim 64 DSB-NSM,CIFAR-100-LT 10 NMI,63.5,0.1\n")


def test_paper_difference_prefers_the_printed_gain(tmp_path, monkeypatch):
    import semscale.experiment as experiment

    _paper_tables(tmp_path)
    monkeypatch.setattr(experiment, "PAPER_VALUES", tmp_path)
    pair = {"dim": 64, "method": "DSB-NSM", "base": "NormSoftmax", "metric": "r1"}
    table4 = {"table": "Table 4", "column": "CUB-2011", "row": "dim {dim} {method}"}
    assert ml.paper_difference(table4, pair) == (1.4, "dim 64 DSB-NSM minus NormSoftmax")
    value, row = ml.paper_difference({"table": "Table 5", "column": "CIFAR-100-LT 10", "row": "dim {dim} {method}"},
                                     dict(pair, base="CB-NSM", metric="nmi"))
    assert value == pytest.approx(0.2) and row is None  # 63.5 - 63.3: no printed gain row
    assert ml.paper_difference(table4, dict(pair, metric="nmi")) == (None, None)  # NormSoftmax NMI missing
    assert ml.paper_difference(None, pair) == (None, None)


# ------------------------------------------------------------------ unseen-class splits

class _Exp:
    class args:
        data_dir = None

    def dataset(self, name, split="train", **options):
        from semscale.data import load_dataset

        return load_dataset(name, split, **options)


def test_embedded_split_is_disjoint_and_as_documented():
    train, test = ml.load_split(_Exp(), "s", {"dataset": "digits", "classes_train": 5, "per_class": 30,
                                               "test_per_class": 12})
    assert train.classes == ["0", "1", "2", "3", "4"] and test.classes == ["5", "6", "7", "8", "9"]
    assert train.counts().tolist() == [30] * 5 and test.counts().tolist() == [12] * 5
    from semscale.data import load_dataset

    digits_test = load_dataset("digits", "test")
    # Test label 0 is digit 5: every chosen image is one of the test split's images of digit label + 5.
    originals = test.extras["original_label"]
    assert np.array_equal(originals, test.labels + 5)
    assert set(np.asarray(digits_test.labels)[np.asarray(digits_test.labels) >= 5]) == {5, 6, 7, 8, 9}


def test_long_tailed_training_classes_follow_fig8():
    train, test = ml.load_split(_Exp(), "s", {"dataset": "digits", "classes_train": 5, "per_class": 40,
                                               "imbalance": 10})
    # n_i = floor(40 * 10^(-i/4)), by hand: 40, 22.49, 12.64, 7.11, 4
    assert train.counts().tolist() == [40, 22, 12, 7, 4]
    assert test.num_classes == 5 and not set(train.classes) & set(test.classes)


def test_shared_classes_are_refused():
    from semscale.data import load_dataset

    data = load_dataset("digits", "train")
    with pytest.raises(ValueError, match="setting x: classes .* both"):
        ml.check_disjoint(data, data, "x")


# ------------------------------------------------------------------ end to end

def _read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_smoke_run_writes_its_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert ml.main(["--profile", "smoke", "--out", str(out), "--quiet", "--set", "epochs=1",
                    "--set", "settings.balanced.dims=[512]"]) == 0
    runs = _read(out / "runs.csv")
    # balanced: 2 losses x 2 weightings x 1 dim + Circle at 512; lt5: 2 losses x 3 weightings; 2 seeds
    assert len(runs) == 2 * (4 + 1 + 6)
    assert {r["method"] for r in runs} == set(ml.LABELS.values())
    assert all(0 <= float(r[m]) <= 100 for r in runs for m in ("r1", "r2", "r4", "nmi"))
    assert all(float(r["r1"]) <= float(r["r2"]) <= float(r["r4"]) for r in runs)
    pairs = _read(out / "pairs.csv")
    assert {(p["setting"], p["pair"], p["metric"]) for p in pairs} == {
        ("balanced", "DSB-NSM minus NormSoftmax", "R@1"), ("balanced", "DSB-NSM minus NormSoftmax", "NMI"),
        ("balanced", "DSB-ST minus SoftTriple", "R@1"), ("balanced", "DSB-ST minus SoftTriple", "NMI"),
        ("lt5", "DSB-NSM minus NormSoftmax", "R@1"), ("lt5", "DSB-NSM minus NormSoftmax", "NMI"),
        ("lt5", "DSB-ST minus SoftTriple", "R@1"), ("lt5", "DSB-ST minus SoftTriple", "NMI"),
        ("lt5", "DSB-NSM minus CB-NSM", "R@1"), ("lt5", "DSB-NSM minus CB-NSM", "NMI"),
        ("lt5", "DSB-ST minus CB-ST", "R@1"), ("lt5", "DSB-ST minus CB-ST", "NMI"),
        ("balanced", "DSB-ST minus Circle", "R@1"), ("balanced", "DSB-ST minus Circle", "R@2")}
    assert {p["dim"] for p in pairs if p["setting"] == "balanced"} == {"512"}
    # The paper's differences beside, from experiments/paper_values: Table 4's printed gain (dim 512, CUB-2011) and,
    # where Table 5 prints no gain, its two rows' difference (CIFAR-100-LT 10: DSB-NSM 56.3 - CB-NSM 55.7).
    paper = {(p["setting"], p["pair"], p["metric"]): p["paper"] for p in pairs}
    assert paper["balanced", "DSB-ST minus SoftTriple", "NMI"] == "+1.3"
    assert paper["lt5", "DSB-NSM minus CB-NSM", "R@1"] == "+0.6"
    assert paper["balanced", "DSB-ST minus Circle", "R@1"] == "+2.2"  # Table 4, Cars196: 85.6 - 83.4
    claims = [c for c in _read(out / "checks.csv") if c["kind"] == "claim"]
    assert len(claims) == len(pairs) and all(c["verdict"] in ("held", "not held") for c in claims)
    for name in ("summary.csv", "summary.md", "gains.png", "gains.pdf", "record.json"):
        assert (out / name).exists(), name


def test_paper_profile_on_miniature_layouts(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    make_cub(tmp_path / "data")
    make_cifar100_balanced(tmp_path / "data", train_per_class=5, test_per_class=1)
    out = tmp_path / "out"
    shrink = ["epochs=1", "seeds=[0]", "threads=1", "backbone=small_cnn", "width=4", "pretrained=''", "image_size=16",
              "batch_size=16", "amp='off'", "device=cpu", "workers=0", "warmup_epochs=1",
              "run=[cub, cifar100-lt-10, cifar100]", "settings.cub.dims=[512]"]
    argv = ["--profile", "paper", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--quiet"]
    for item in shrink:
        argv += ["--set", item]
    assert ml.main(argv) == 0
    runs = _read(out / "runs.csv")
    assert len(runs) == 4 + 1 + 6 + 4  # cub's Circle at 512
    assert {r["setting"] for r in runs} == {"cub", "cifar100-lt-10", "cifar100"}
    pairs = _read(out / "pairs.csv")
    assert {p["pair"] for p in pairs if p["setting"] == "cifar100-lt-10"} == {
        "DSB-NSM minus NormSoftmax", "DSB-ST minus SoftTriple", "DSB-NSM minus CB-NSM", "DSB-ST minus CB-ST"}
    assert {p["pair"] for p in pairs if p["setting"] == "cub"} == {"DSB-NSM minus NormSoftmax",
                                                                   "DSB-ST minus SoftTriple", "DSB-ST minus Circle"}
    claims = [c for c in _read(out / "checks.csv") if c["kind"] == "claim"]
    assert len(claims) == len(pairs) == 2 * (2 + 4 + 2) + 2
    assert all(c["verdict"] == "not run" for c in claims)  # one seed: no interval, no verdict
    record = (out / "record.json").read_text()
    # CUB classes 1-100 train, 101-200 test; CIFAR-100 LT-10 over 60 training classes, 40 unseen test classes.
    assert '"test_classes": 100' in record and '"test_classes": 40' in record


def test_each_run_trains_the_metric_task_with_its_settings():
    """run_one hands exp.train the embedding width, the loss's own options, the weighting's options and alpha."""
    seen = {}

    class FakeExp:
        def train(self, train, **settings):
            seen.update(settings)
            return "trainer"

        def evaluate(self, trainer, test):
            return {"recall_at_k": {1: 0.5, 2: 0.625, 4: 0.75, 8: 0.875}, "nmi": 0.25}

    cfg = {"epochs": 3, "lr": 0.1, "loss_options": {"st": {"centers": 2}, "nsm": {"temperature": 0.1}},
           "weighting_options": {"cb": {"beta": 0.99}}}
    row = ml.run_one(FakeExp(), cfg, {"alpha": 2.0}, "lt", None, None, 3, 512, "st", "cb")
    assert seen == {"seed": 3, "task": "metric", "loss": "st", "loss_options": {"centers": 2}, "weighting": "cb",
                    "weighting_options": {"beta": 0.99}, "alpha": 2.0, "embedding_dim": 512, "epochs": 3, "lr": 0.1}
    assert row == {"setting": "lt", "dim": 512, "loss": "st", "weighting": "cb", "method": "CB-ST", "seed": 3,
                   "r1": 50.0, "r2": 62.5, "r4": 75.0, "nmi": 25.0}


def test_paper_profile_names_every_table_cell_and_dataset():
    """Every paper-profile setting loads a registered metric split and finds the paper's difference for each pair
    it judges (Tables 4, 5, 8, 9 as experiments/paper_values names them)."""
    from semscale.data.registry import spec
    from semscale.experiment import merge, read_config

    sections, _ = read_config(REPO / "experiments" / "metric_learning.py")
    cfg = merge(sections["common"], sections["paper"])
    tables = set()
    for name in cfg["run"]:
        setting = cfg["settings"][name]
        assert spec(setting["dataset"]).splits == ("train", "test"), name
        for dim in setting["dims"]:
            for loss in cfg["losses"]:
                for base, method in ml.pairs_of(setting["weightings"], ml.long_tailed(setting)):
                    for metric in ml.JUDGED_METRICS:
                        pair = {"dim": dim, "method": ml.LABELS[loss, method], "base": ml.LABELS[loss, base],
                                "metric": metric}
                        value, _ = ml.paper_difference(setting["paper"], pair)
                        assert value is not None, (name, pair)
                        tables.add(setting["paper"]["table"])
    assert tables == {"Table 4", "Table 5", "Table 8", "Table 9"}
    # Table 5 at imbalance 200: DSB-ST minus SoftTriple on R@1 is 49.3 - 46.6 (Sec. 5.3 quotes +2.7)
    assert ml.paper_difference(cfg["settings"]["cifar100-lt-200"]["paper"],
                               {"dim": 64, "method": "DSB-ST", "base": "SoftTriple", "metric": "r1"})[0] == \
        pytest.approx(2.7)


def test_circle_pairs_are_dsb_st_minus_circle_on_r1_and_r2_paired_by_seed():
    cfg = {"run": ["bal"], "settings": {"bal": {"dims": [64], "weightings": ["none", "dsb"],
                                                "circle": {"dims": [512]}}}}
    rows = []
    for seed in range(4):
        rows.append({"setting": "bal", "dim": 512, "loss": "circle", "weighting": "none", "seed": seed,
                     "r1": 60.0 + seed, "r2": 70.0 + seed})
        rows.append({"setting": "bal", "dim": 512, "loss": "st", "weighting": "dsb", "seed": seed,
                     "r1": 63.0 + seed + (0.5 if seed % 2 else -0.5), "r2": 69.0 + seed})
        rows.append({"setting": "bal", "dim": 512, "loss": "st", "weighting": "none", "seed": seed,  # not Circle
                     "r1": 0.0, "r2": 0.0})
    pairs = {p["metric"]: p for p in ml.circle_pairs(rows[::-1], cfg)}
    assert sorted(pairs) == ["r1", "r2"]
    low, high = _t_interval([3.0 + (0.5 if s % 2 else -0.5) for s in range(4)])
    assert pairs["r1"]["triple"] == pytest.approx((3.0, low, high)) and pairs["r1"]["verdict"] is True
    assert pairs["r2"]["triple"][0] == pytest.approx(-1.0) and pairs["r2"]["verdict"] is False
    assert pairs["r1"]["method"] == "DSB-ST" and pairs["r1"]["base"] == "Circle" and pairs["r1"]["seeds"] == 4
    assert ml.circle_pairs(rows, {"run": ["bal"], "settings": {"bal": {"dims": [64]}}}) == []


def test_circle_comparison_reads_table_4_in_its_own_column():
    setting = {"circle": {"dims": [512], "paper_column": "Cars196"},
               "paper": {"table": "Table 4", "column": "CUB-2011", "row": "dim {dim} {method}"}}
    pair = {"dim": 512, "method": "DSB-ST", "base": "Circle", "metric": "r1"}
    spec = ml.paper_spec(setting, pair)
    assert spec["column"] == "Cars196"
    assert ml.paper_spec(setting, {**pair, "base": "SoftTriple"})["column"] == "CUB-2011"
    value, gain_row = ml.paper_difference(spec, pair)  # the committed Table 4: 85.6 - 83.4 (R@1), 91.3 - 89.8 (R@2)
    assert value == pytest.approx(2.2) and gain_row is None
    assert ml.paper_difference(spec, {**pair, "metric": "r2"})[0] == pytest.approx(1.5)
