"""experiments/warmup_epochs.py: the non-inferiority claim on constructed runs (held and not held, by hand-computed
t-intervals), the pairing by seed, the reference n, and smoke / paper-profile runs writing their tables."""
import random
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import warmup_epochs as wu  # noqa: E402
from test_exp_medical import hand_t_interval, read_table  # noqa: E402
from semscale.experiment import Experiment  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
BASE = [80.0, 82.5, 81.0, 79.0, 83.0]          # top-1 at the reference n = 5, seed by seed


def _rows(dataset, loss, shifts_at_largest):
    """Runs of one loss: n = 5 at BASE, n = 9 at BASE + shift (seed by seed); n = 1 and the plain loss far off, so
    comparing with the wrong n changes the verdict."""
    rows = []
    for seed, base, shift in zip(SEEDS, BASE, shifts_at_largest):
        for n, value in ((5, base), (9, base + shift), (1, base + 30), (wu.PLAIN, base - 30)):
            rows.append({"dataset": dataset, "loss": loss, "n": n, "seed": seed, "top1": value})
    return rows


def _hand_low(differences):
    return hand_t_interval(differences)[1]


# Paired differences: mean -0.5, sd 0.0707 -> low = -0.5 - 2.776 * 0.0316 = -0.588 (above -1: held);
# mean -1.5 with the same spread -> low = -1.588 (not held); mean +0.2 but sd 1.3 -> low = -1.41 (not held: too
# noisy to exclude a loss of 1 point, though the mean is a gain).
NEAR = [-0.4, -0.6, -0.5, -0.5, -0.5]
WORSE = [-1.4, -1.6, -1.5, -1.5, -1.5]
NOISY = [1.5, -1.0, 1.8, -1.2, -0.1]


def test_hand_intervals_are_what_the_comments_say():
    assert _hand_low(NEAR) == pytest.approx(-0.5878, abs=1e-3)
    assert _hand_low(WORSE) == pytest.approx(-1.5878, abs=1e-3)
    assert _hand_low(NOISY) < -1 < np.mean(NOISY) + 1


def test_reference_n_is_five_when_present_else_the_smallest():
    assert wu.reference_n([9, 1, 5, 3]) == 5
    assert wu.reference_n([8, 2, 3]) == 2
    assert wu.reference_n([5]) == 5


def test_noninferiority_pairs_by_seed_and_uses_largest_against_five():
    rows = _rows("d", "CE", NEAR)
    random.Random(0).shuffle(rows)                      # the pairing must come from the seed, not the row order
    largest, reference, (mean, low, high), threshold = wu.noninferiority(rows, "d", "CE", [1, 5, 9], margin=1.0)
    assert (largest, reference, threshold) == (9, 5, -1.0)
    assert mean == pytest.approx(-0.5) and low == pytest.approx(_hand_low(NEAR))
    assert high == pytest.approx(-0.5 + (-0.5 - _hand_low(NEAR)))


@pytest.mark.parametrize("shifts, verdict", [(NEAR, "held"), (WORSE, "not held"), (NOISY, "not held"),
                                             ([0.0] * 5, "held")])
def test_claim_verdicts_both_ways(tmp_path, shifts, verdict):
    exp = Experiment(str(ROOT / "experiments" / "warmup_epochs.py"), ["--profile", "smoke", "--out", str(tmp_path)])
    rows = _rows("d", "Focal", shifts)
    wu.state_claims(exp, rows, ["d"], ["Focal"], [1, 5, 9], margin=1.0)
    (check,) = exp.checks
    assert check.id == "larger_n_not_worse_focal_d" and check.verdict == verdict
    assert check.reason == ("" if verdict == "held" else f"lower bound {_hand_low(shifts):.4g} does not clear -1")


def test_margin_moves_the_threshold(tmp_path):
    """WORSE (low -1.59) clears a 2-point margin but not a 1-point one."""
    exp = Experiment(str(ROOT / "experiments" / "warmup_epochs.py"), ["--profile", "smoke", "--out", str(tmp_path)])
    wu.state_claims(exp, _rows("d", "CE", WORSE), ["d"], ["CE"], [1, 5, 9], margin=2.0)
    wu.state_claims(exp, _rows("d", "CE", WORSE), ["d"], ["CE"], [1, 5, 9], margin=1.0)
    assert [c.verdict for c in exp.checks] == ["held", "not held"]


def test_paired_by_seed_refuses_disjoint_seeds():
    with pytest.raises(ValueError, match="share no seed"):
        wu.paired_by_seed({0: 1.0}, {1: 2.0})


def test_smoke_run_writes_its_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert wu.main(["--profile", "smoke", "--quiet", "--out", str(out)]) == 0
    runs = read_table(out, "runs")
    assert len(runs) == 2 * 2 * 3                                 # seeds x losses x (plain, n = 1, n = 2)
    assert {(r["loss"], r["n"]) for r in runs} == {(loss, n) for loss in ("CE", "Focal") for n in ("plain", "1", "2")}
    assert all(0 <= float(r["top1"]) <= 100 for r in runs)
    curve = read_table(out, "curve")
    assert [(r["loss"], r["n"]) for r in curve] == [("CE", "plain"), ("CE", "1"), ("CE", "2"), ("Focal", "plain"),
                                                    ("Focal", "1"), ("Focal", "2")]
    checks = read_table(out, "checks")
    assert [c["id"] for c in checks] == ["larger_n_not_worse_ce_digits-lt10", "larger_n_not_worse_focal_digits-lt10"]
    assert all(c["verdict"] in ("held", "not held") for c in checks)
    assert (out / "top1_by_n.png").exists() and (out / "record.json").exists()


def test_largest_n_must_leave_stage_three(tmp_path):
    with pytest.raises(SystemExit, match="must be below epochs"):
        wu.main(["--profile", "smoke", "--quiet", "--out", str(tmp_path), "--set", "warmup_grid=[1, 3]",
                 "--set", "epochs=3"])


def test_paper_profile_on_a_miniature_cifar10(tmp_path, monkeypatch):
    from miniature import make_cifar10_layout

    make_cifar10_layout(tmp_path / "data", per_batch=30, balanced=True)
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = wu.main(["--profile", "paper", "--quiet", "--data-dir", str(tmp_path / "data"), "--out", str(out),
                    "--set", "datasets=[{name: cifar10, imbalance: 3}]", "--set", "epochs=2",
                    "--set", "warmup_grid=[1]", "--set", "seeds=[0]", "--set", "backbone=small_cnn",
                    "--set", "stem=auto", "--set", "batch_size=32"])
    assert code == 0
    runs = read_table(out, "runs")
    assert {r["dataset"] for r in runs} == {"cifar10-lt3"} and len(runs) == 2 * 2
    assert [c["verdict"] for c in read_table(out, "checks")] == ["not run", "not run"]   # one seed: no interval
