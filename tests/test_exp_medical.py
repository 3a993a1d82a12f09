"""experiments/medical.py: DSB-pair claims on constructed runs (held / not held by hand-computed intervals), the
focus-class AP, the 'not run' profiles, and the paper profile end to end on the miniature OIA-ODIR layout."""
import csv
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import medical  # noqa: E402
from semscale.experiment import Experiment  # noqa: E402

CLASSES = ["N", "D", "G", "C", "A", "H", "M"]
PAIR = {"dataset": "oia-odir", "backbone": {"label": "ResNet-50"}, "loss": {"label": "Focal"}}


def _rows(macro_gains, focus_gains, base=(40.0, 45.0, 38.0, 50.0, 42.0)):
    """Five seeds of the plain and DSB runs of PAIR; DSB = plain + gain, seed by seed; shuffled."""
    rows = []
    for seed, (b, gm, gf) in enumerate(zip(base, macro_gains, focus_gains)):
        rows.append({"pair": medical.pair_name(PAIR), "method": "plain", "seed": seed, "macro_ap": b, "focus_ap": b - 10})
        rows.append({"pair": medical.pair_name(PAIR), "method": "dsb", "seed": seed, "macro_ap": b + gm,
                     "focus_ap": b - 10 + gf})
        rows.append({"pair": "other", "method": "dsb", "seed": seed, "macro_ap": 0.0, "focus_ap": 0.0})
    random.Random(1).shuffle(rows)
    return rows


def hand_t_interval(differences):
    """(mean, low, high): the 95% Student-t interval of paired differences, written out (the tests' reference)."""
    d = np.asarray(differences, dtype=float)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


UP = [1.0, 1.5, 0.8, 1.2, 1.0]        # mean 1.10, low 0.77: held
DOWN = [-1.0, -1.5, -0.8, -1.2, -1.0]  # mean -1.10: not held
MIXED = [3.0, -2.0, 1.0, -1.0, 0.5]    # mean +0.30, low -2.07: not held
SMALL = [0.5, -0.3, 0.4, 0.2, -0.1]    # mean +0.14, low -0.28: not held (above -1: the threshold is 0, not lower)


def test_dsb_gain_is_dsb_minus_plain_paired_by_seed():
    rows = _rows(UP, MIXED)
    assert medical.dsb_gain(rows, PAIR, "macro_ap") == pytest.approx(hand_t_interval(UP))
    assert medical.dsb_gain(rows, PAIR, "focus_ap") == pytest.approx(hand_t_interval(MIXED))
    assert hand_t_interval(UP)[1] > 0 > hand_t_interval(SMALL)[1] > -1 > hand_t_interval(MIXED)[1]


@pytest.mark.parametrize("macro, focus, verdicts", [(UP, UP, ["held", "held"]), (UP, DOWN, ["held", "not held"]),
                                                    (MIXED, UP, ["not held", "held"]), (DOWN, MIXED, ["not held", "not held"]),
                                                    (SMALL, UP, ["not held", "held"])])
def test_claims_both_ways(tmp_path, macro, focus, verdicts):
    exp = Experiment(str(ROOT / "experiments" / "medical.py"), ["--profile", "paper", "--out", str(tmp_path)])
    medical.state_claims(exp, _rows(macro, focus), [PAIR])
    assert [c.id for c in exp.checks] == ["dsb_gain_macro_ap_oia-odir_resnet-50_focal",
                                          "dsb_gain_focus_ap_oia-odir_resnet-50_focal"]
    assert [c.verdict for c in exp.checks] == verdicts


def test_focus_ap_is_the_mean_of_c_a_m():
    ap = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    assert medical.focus_ap(ap, CLASSES, ["C", "A", "M"]) == pytest.approx((40 + 50 + 70) / 3)


def test_pairs_cover_the_figures():
    cfg = Experiment(str(ROOT / "experiments" / "medical.py"), ["--profile", "paper"]).config
    names = [(p["dataset"], p["backbone"]["label"], p["loss"]["label"]) for p in medical.pairs(cfg)]
    assert names == [("oia-odir", "ResNet-50", loss) for loss in ("CE", "BS", "Focal", "LDAM")] + \
        [("oia-odir-b", b, "CE") for b in ("ResNet-50", "VGG-16", "ResNet-18", "SE-ResNet-50")]
    assert [p["alpha"] for p in medical.pairs(cfg)] == [2.0] * 4 + [1.0] * 4


def read_table(folder, name):
    """The rows of an experiment's <name>.csv."""
    return list(csv.DictReader(open(folder / f"{name}.csv")))


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_without_data_every_check_is_not_run_with_the_reason(tmp_path, profile):
    assert medical.main(["--profile", profile, "--quiet", "--out", str(tmp_path)]) == 0
    checks = read_table(tmp_path, "checks")
    assert len(checks) == 2 * 8 and {c["verdict"] for c in checks} == {"not run"}
    assert all("no OIA-ODIR here" in c["reason"] for c in checks)
    summary = read_table(tmp_path, "summary")
    assert len(summary) == 8 and {summary[0][k] for k in medical.SUMMARY_COLUMNS[3:]} == {"not run"}


def test_paper_profile_on_the_miniature_oia_odir(tmp_path, monkeypatch):
    from miniature_metric import make_oia_odir

    make_oia_odir(tmp_path / "data")
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = medical.main(["--profile", "paper", "--quiet", "--data-dir", str(tmp_path / "data"), "--out", str(out),
                         "--set", "epochs=2", "--set", "warmup_epochs=1", "--set", "seeds=[0, 1]",
                         "--set", "image_size=32", "--set", "pretrained=", "--set", "batch_size=8",
                         "--set", "workers=0", "--set", "imbalanced.backbone={label: Small, backbone: small_cnn}",
                         "--set", "balanced.backbones=[{label: Small, backbone: small_cnn}]",
                         "--set", "losses=[{label: CE, loss: ce}, {label: LDAM, loss: ldam, head: cosine}]"])
    assert code == 0
    runs = read_table(out, "runs")
    assert len(runs) == 2 * 3 * 2                                   # seeds x pairs x (plain, DSB)
    for run in runs:                                                # the AP columns are the classes N..M in order
        ap = [float(run[f"AP {c}"]) for c in CLASSES]
        assert float(run["macro_ap"]) == pytest.approx(np.mean(ap))
        assert float(run["focus_ap"]) == pytest.approx(np.mean([ap[3], ap[4], ap[6]]))
    assert [(r["dataset"], r["pair"]) for r in read_table(out, "summary")] == [
        ("oia-odir", "DSB-CE vs CE"), ("oia-odir", "DSB-LDAM vs LDAM"), ("oia-odir-b", "DSB-CE vs CE")]
    assert len(read_table(out, "per_class_ap")) == 3 * 7
    checks = read_table(out, "checks")
    assert len(checks) == 6 and all(c["verdict"] in ("held", "not held") for c in checks)
    assert (out / "per_class_ap.png").exists()
