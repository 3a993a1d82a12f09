"""experiments/lt_classification.py: claim logic on constructed inputs, the row -> TrainConfig mapping of every row
and the paper's differences (its runs end to end: tests/test_exp_lt_classification_runs.py)."""
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import lt_classification as ltc  # noqa: E402

from semscale.experiment import merge, read_config  # noqa: E402
from semscale.stats import judge  # noqa: E402
from semscale.train import TrainConfig  # noqa: E402

SCRIPT = ROOT / "experiments" / "lt_classification.py"


def _profile(name):
    sections, _ = read_config(SCRIPT)
    return merge(sections["common"], sections[name])


def _t_interval(values):
    """Hand-written Student-t 95% interval of a mean (closed form, not semscale.stats)."""
    values = np.asarray(values, dtype=float)
    half = sps.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean(), values.mean() - half, values.mean() + half


# ---------------------------------------------------------------- claim logic on constructed inputs

def test_tight_gain_held_noisy_gain_not():
    baseline = np.array([50.0, 52.0, 48.0, 51.0, 49.0])
    tight = baseline + np.array([2.0, 2.2, 1.8, 2.1, 1.9])
    mean, low, high = ltc.gain(baseline, tight)
    assert (mean, low, high) == pytest.approx(_t_interval(tight - baseline))
    assert mean == pytest.approx(2.0) and judge(low)[0] is True
    noisy = baseline + np.array([6.0, -4.0, 5.0, -3.0, 2.0])        # mean +1.2, sd 4.8: the interval spans 0
    mean, low, _ = ltc.gain(baseline, noisy)
    assert mean == pytest.approx(1.2) and low < 0 and judge(low)[0] is False
    # The sign: baseline minus method would be a loss, not a gain.
    assert ltc.gain(tight, baseline)[0] == pytest.approx(-2.0)


def test_tail_gain_largest_both_ways():
    base = {"head": np.array([70.0, 71, 69, 70, 70]), "middle": np.array([40.0, 41, 39, 40, 40]),
            "tail": np.array([10.0, 11, 9, 10, 10])}
    # Tail +8 (+-0.5 a seed), head +1, middle +2: tail largest, held both ways.
    tail_big = {"head": base["head"] + [1.0, 1.1, 0.9, 1.0, 1.0], "middle": base["middle"] + [2.0, 2.2, 1.8, 2, 2],
                "tail": base["tail"] + [8.0, 8.5, 7.5, 8.2, 7.8]}
    for other, expected in (("head", 7.0), ("middle", 6.0)):
        mean, low, high = ltc.gain_contrast(base, tail_big, "tail", other)
        per_seed = (tail_big["tail"] - base["tail"]) - (tail_big[other] - base[other])
        assert (mean, low, high) == pytest.approx(_t_interval(per_seed))
        assert mean == pytest.approx(expected) and judge(low)[0] is True
    # Head gains most: tail - head is negative, not held; tail - middle equal gains: not held either.
    head_big = {"head": base["head"] + [5.0, 5.2, 4.8, 5, 5], "middle": base["middle"] + [1.0, 1.5, 0.5, 1, 1],
                "tail": base["tail"] + [1.0, 1.2, 0.8, 1, 1]}
    mean, low, _ = ltc.gain_contrast(base, head_big, "tail", "head")
    assert mean == pytest.approx(-4.0) and judge(low)[0] is False
    mean, low, _ = ltc.gain_contrast(base, head_big, "tail", "middle")
    assert mean == pytest.approx(0.0) and judge(low)[0] is False


class _Recorder:
    """Stands in for Experiment: records each claim's verdict by the one rule."""

    def __init__(self):
        self.verdicts, self.paper = {}, []

    def claim(self, id, description, held, ours, paper="", reason=""):
        self.verdicts[id] = held

    def claim_interval(self, id, description, triple, threshold=0.0, paper="", digits=3, signed=False, note=""):
        self.verdicts[id] = judge(triple[1], threshold)[0]

    def paper_check(self, id, description, ours, table, row, column, reason_off_profile="", undefined_reason=""):
        self.paper.append((id, row, column, ours))


def _runs(dataset, label, offsets):
    """5 seeds of a row: overall and thirds = base + offset (+ tiny seed noise); bands = thirds."""
    noise = np.array([0.1, -0.1, 0.05, -0.05, 0.0])
    base = {"overall": 50.0, "head": 70.0, "middle": 45.0, "tail": 20.0}
    runs = []
    for seed in range(5):
        row = {"dataset": dataset, "row": label, "seed": seed}
        for group, value in base.items():
            row[group] = value + offsets.get(group, 0.0) + noise[(seed + len(group)) % 5]
        row.update({f"{g}_band": row[g] for g in ("head", "middle", "tail")})
        runs.append(row)
    return runs


def test_judge_pairs_claims_each_pair_and_the_tail():
    cfg = _profile("quick")
    dataset = cfg["datasets"][0]["label"]
    runs = []
    for row in cfg["rows"]:
        # DSB rows gain +3 overall, +1 head, +2 middle, +9 tail; except DSB-BS, which loses 2 overall.
        label = row["label"]
        offsets = {}
        if label.startswith("DSB-") and label != "DSB-BS":
            offsets = {"overall": 3.0, "head": 1.0, "middle": 2.0, "tail": 9.0}
        elif label == "DSB-BS":
            offsets = {"overall": -2.0}
        runs += _runs(dataset, label, offsets)
    recorder = _Recorder()
    table = ltc.judge_pairs(recorder, cfg, runs)
    v = recorder.verdicts
    key = lambda m, b: f"{dataset}:{m}_vs_{b}".replace(" ", "_")  # noqa: E731
    for method, baseline in (("DSB-CE", "CE"), ("DSB-Focal", "Focal"), ("DSB-LDAM", "LDAM-DRW"),
                             ("DSB-LADE", "LADE"), ("DSB-CE", "CB-CE"), ("DSB-Focal", "CB-Focal"),
                             ("DSB-CE", "CDB-CE")):
        assert v[key(method, baseline)] is True, (method, baseline)
    assert v[key("DSB-BS", "BS")] is False
    # Fig. 17's pairs are reported, not claimed (DSB-X-1 is also +3 over nothing: no claim id for them).
    assert key("DSB-CE", "DSB-CE-1") not in v
    assert v[key("DSB-CE", "CE") + "_tail_gain_above_head"] is True
    assert v[key("DSB-CE", "CE") + "_tail_gain_above_middle"] is True
    pairs = {(r["pair"], r["group"]): r for r in table}
    assert pairs[("DSB-CE minus CE", "overall")]["ours"].startswith("+3.00")
    assert pairs[("DSB-CE minus CE", "tail")]["ours"].startswith("+9.00")
    assert pairs[("DSB-CE minus DSB-CE-1", "overall")]["ours"].startswith("+0.00")
    # Paper names: LDAM-DRW is Table 2's "LDAM"; the printed gain sits beside ours.
    assert pairs[("DSB-LDAM minus LDAM", "overall")]["paper"] == pytest.approx(1.2)
    assert pairs[("DSB-CE minus CE", "overall")]["paper source"] == "printed"
    assert ("DSB-CE minus CE", "ImageNet-LT Overall") in {(p[1], p[2]) for p in recorder.paper}


def test_tail_claim_not_held_when_head_gains_most():
    cfg = {**_profile("quick"), "pairs": []}
    dataset = cfg["datasets"][0]["label"]
    runs = _runs(dataset, "CE", {}) + _runs(dataset, "DSB-CE", {"head": 6.0, "middle": 1.0, "tail": 2.0})
    recorder = _Recorder()
    ltc.judge_pairs(recorder, cfg, runs)
    assert recorder.verdicts[f"{dataset}:DSB-CE_vs_CE_tail_gain_above_head".replace(" ", "_")] is False
    assert recorder.verdicts[f"{dataset}:DSB-CE_vs_CE_tail_gain_above_middle".replace(" ", "_")] is True


def test_paper_differences_printed_computed_or_absent():
    assert ltc.paper_difference("DSB-CE", "CE", "ImageNet-LT Overall") == (4.8, "printed")
    value, source = ltc.paper_difference("DSB-CE", "CB-CE", "ImageNet-LT Overall")
    assert value == pytest.approx(49.2 - 33.2) and source.startswith("computed")
    value, source = ltc.paper_difference("DSB-CE", "CE", "ImageNet-LT Head")   # not printed: 67.3 - 65.9
    assert value == pytest.approx(1.4) and source.startswith("computed")
    value, _ = ltc.paper_difference("DSB-Focal", "CB-Focal", "ImageNet-LT Overall")    # CB-Focal: '-' there
    assert np.isnan(value)


# ---------------------------------------------------------------- rows -> TrainConfig

EXPECTED = {  # label: (loss, weighting, head, loss_options, weighting_options without start_epoch)
    "CE": ("ce", "none", "linear", {}, {}),
    "CB-CE": ("ce", "cb", "linear", {}, {"beta": 0.9999}),
    "DSB-CE": ("ce", "dsb", "linear", {}, {}),
    "Focal": ("focal", "none", "linear", {"gamma": 1.0}, {}),
    "CB-Focal": ("focal", "cb", "linear", {"gamma": 1.0}, {"beta": 0.9999}),
    "DSB-Focal": ("focal", "dsb", "linear", {"gamma": 1.0}, {}),
    "LDAM-DRW": ("ldam", "cb", "cosine", {"max_margin": 0.5, "scale": 30.0}, {"beta": 0.9999}),
    "DSB-LDAM": ("ldam", "dsb", "cosine", {"max_margin": 0.5, "scale": 30.0}, {}),
    "BS": ("bs", "none", "linear", {}, {}),
    "DSB-BS": ("bs", "dsb", "linear", {}, {}),
    "LADE": ("lade", "none", "linear", {"weight": 0.1, "remine_lambda": 0.1}, {}),
    "DSB-LADE": ("lade", "dsb", "linear", {"weight": 0.1, "remine_lambda": 0.1}, {}),
    "DSB-CE-1": ("ce", "dsb1", "linear", {}, {}),
    "DSB-Focal-1": ("focal", "dsb1", "linear", {"gamma": 1.0}, {}),
    "CDB-CE": ("ce", "cdb", "linear", {}, {"tau": 1.0}),
}


@pytest.mark.parametrize("profile,epochs,drw_start", [("quick", 20, 17), ("paper", 90, 73), ("smoke", 2, 3)])
def test_every_row_maps_to_its_train_config(profile, epochs, drw_start):
    cfg = _profile(profile)
    entry = cfg["datasets"][0]
    settings = ltc.profile_settings(cfg, entry)
    rows = ltc.rows_of(cfg, entry)
    assert {r["label"] for r in rows} >= set(EXPECTED)
    assert len(cfg["rows"]) == 15
    # Table 2's method rows in quick and paper, not in smoke (seconds)
    methods = {"BBN", "DiVE", "DSB-CE+IFL", "PaCo", "DSB-PaCo", "MBJ", "DSB+MBJ", "RIDE", "DSB+RIDE", "MBJ+RIDE"}
    assert {r["label"] for r in cfg["extra_rows"]} == (set() if profile == "smoke" else methods)
    for row in rows:
        config = TrainConfig(seed=0, **ltc.row_config(row, settings))
        assert config.epochs == epochs and config.warmup_epochs == cfg["warmup_epochs"]
        if row["label"] not in EXPECTED:
            assert config.method and config.loss == "ce"
            # RIDE's deferred stage at 80% of training: CB weights (not DSB+RIDE's) and frequency-aware diversity
            ride_options = config.method_options.get("base_options", config.method_options)
            if "RIDE" in row["label"]:
                assert ride_options["reweight_epoch"] == drw_start - 1, row["label"]
                cb = row["label"] != "DSB+RIDE"
                assert config.weighting == ("cb" if cb else "dsb"), row["label"]
                assert config.weighting_options.get("start_epoch") == (drw_start if cb else None), row["label"]
            continue
        loss, weighting, head, loss_options, weighting_options = EXPECTED[row["label"]]
        if profile == "paper" and loss == "lade":
            loss_options = {"weight": 0.05, "remine_lambda": 0.5}          # ImageNet-LT's (LADE's README)
        options = dict(config.weighting_options)
        start = options.pop("start_epoch", None)
        assert (config.loss, config.weighting, config.head, config.loss_options, options) == \
            (loss, weighting, head, loss_options, weighting_options), row["label"]
        assert start == (drw_start if row["label"] == "LDAM-DRW" else None), row["label"]
        assert not config.method


def test_paper_profile_settings_per_dataset():
    cfg = _profile("paper")
    imagenet, inat = cfg["datasets"]
    for entry, backbone, batch in ((imagenet, "resnext50_32x4d", 256), (inat, "resnet50", 512)):
        config = TrainConfig(**ltc.row_config(cfg["rows"][0], ltc.profile_settings(cfg, entry)))
        assert (config.backbone, config.batch_size, config.optimizer, config.momentum, config.weight_decay,
                config.lr, config.schedule, config.augment, config.image_size, config.amp) == \
            (backbone, batch, "sgd", 0.9, 0.0005, 0.1, "linear", "imagenet", 224, "bf16")
    lade = next(r for r in ltc.rows_of(cfg, inat) if r["label"] == "LADE")
    assert lade["loss_options"] == {"weight": 0.05, "remine_lambda": 0.1}


def test_bad_rows_name_the_row():
    with pytest.raises(SystemExit, match="'X'.*unknown option.*'lossy'"):
        ltc.row_config({"label": "X", "lossy": "ce"}, {})
    with pytest.raises(SystemExit, match="'Y'.*drw_fraction"):
        ltc.row_config({"label": "Y", "weighting": "dsb", "drw_fraction": 0.8}, {"epochs": 10})
    with pytest.raises(SystemExit, match="appear twice"):
        ltc.rows_of({"rows": [{"label": "CE"}, {"label": "CE"}]}, {"name": "d"})
    with pytest.raises(SystemExit, match="row_options name rows"):
        ltc.rows_of({"rows": [{"label": "CE"}]}, {"name": "d", "row_options": {"BS": {}}})


def test_run_record_keeps_thirds_and_bands_apart():
    metrics = {"top1": 0.5, "head": 0.9, "middle": 0.6, "tail": float("nan"),
               "thirds": {"head": 0.8, "middle": 0.4, "tail": 0.1}}
    record = ltc.run_record(metrics)
    assert record["overall"] == pytest.approx(50.0)
    assert (record["head"], record["middle"], record["tail"]) == pytest.approx((80.0, 40.0, 10.0))
    assert (record["head_band"], record["middle_band"]) == pytest.approx((90.0, 60.0))
    assert np.isnan(record["tail_band"])                       # an empty band stays undefined


def test_seed_values_pair_by_seed():
    runs = [{"dataset": "d", "row": "A", "seed": s, "overall": v} for s, v in ((2, 30.0), (0, 10.0), (1, 20.0))]
    runs.append({"dataset": "e", "row": "A", "seed": 0, "overall": 99.0})
    assert ltc.seed_values(runs, "d", "A", "overall").tolist() == [10.0, 20.0, 30.0]
