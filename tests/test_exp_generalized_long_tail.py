"""experiments/generalized_long_tail.py: macro precision, the paired DSB differences and their verdicts on
constructed inputs, Table 11's differences, a smoke run's tables, and the paper profile on a miniature MSCOCO-GLT."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import precision_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import generalized_long_tail as glt  # noqa: E402
from miniature_metric import make_mscoco_glt  # noqa: E402

from semscale.evaluate import confusion_matrix  # noqa: E402
from semscale.stats import judge  # noqa: E402

TABLE11_ROWS_RUN = ["cRT", "DSB-cRT", "LWS", "DSB-LWS", "cRT+IFL", "LWS+IFL", "Deconfound-TDE", "BLSoftmax",
                    "DSB-BLSoftmax", "BBN", "LDAM", "DSB-LDAM", "BLSoftmax+IFL", "DSB-BLSoftmax+IFL"]


def test_macro_precision_is_scikit_learns_with_unpredicted_classes_as_zero(rng):
    labels = rng.integers(0, 5, 200)
    predictions = np.where(rng.random(200) < 0.6, labels, rng.integers(0, 4, 200))
    predictions[predictions == 4] = 0                                               # class 4 never predicted
    assert (labels == 4).any() and not (predictions == 4).any()
    expected = precision_score(labels, predictions, average="macro", zero_division=0)
    assert glt.macro_precision(confusion_matrix(labels, predictions, 5)) == pytest.approx(expected, abs=1e-12)
    # By hand: rows true, columns predicted; precision of class 0 = 3 / (3 + 1), class 1 = 2 / 2.
    assert glt.macro_precision([[3, 0], [1, 2]]) == pytest.approx((3 / 4 + 2 / 2) / 2)


def _rows(method, protocol, values):
    return [{"method": method, "protocol": protocol, "seed": s, "accuracy": v, "precision": v / 2}
            for s, v in enumerate(values)]


def test_pair_differences_pair_by_seed_and_judge(rng):
    base = 50 + rng.normal(0, 2, 5)
    gain = np.array([1.9, 2.1, 2.0, 2.2, 1.8])
    rows = _rows("LDAM", "CLT", base) + _rows("DSB-LDAM", "CLT", base + gain)
    rows += _rows("cRT", "CLT", base) + _rows("DSB-cRT", "CLT", base - gain)        # DSB worse: not held
    rows += _rows("LWS", "CLT", base)                                                # DSB-LWS missing: skipped
    rows = [rows[i] for i in rng.permutation(len(rows))]                             # order must not matter
    result = glt.pair_differences(rows, [["LDAM", "DSB-LDAM"], ["cRT", "DSB-cRT"], ["LWS", "DSB-LWS"]],
                                  ["CLT", "GLT"])
    assert [(r["dsb"], r["protocol"], r["metric"]) for r in result] == [
        ("DSB-LDAM", "CLT", "accuracy"), ("DSB-LDAM", "CLT", "precision"),
        ("DSB-cRT", "CLT", "accuracy"), ("DSB-cRT", "CLT", "precision")]
    half = sps.t.ppf(0.975, 4) * gain.std(ddof=1) / np.sqrt(5)                      # the t-interval by hand
    mean, low, high = result[0]["triple"]
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert result[1]["triple"][0] == pytest.approx(1.0)                             # precision = accuracy / 2
    assert [judge(r["triple"][1], 0.0)[0] for r in result] == [True, True, False, False]
    assert all(r["seeds"] == 5 for r in result)


def test_pair_differences_refuse_unpaired_seeds():
    rows = _rows("LDAM", "ALT", [50, 51, 52]) + _rows("DSB-LDAM", "ALT", [53, 54])
    with pytest.raises(ValueError, match="DSB-LDAM and LDAM on ALT: seeds"):
        glt.pair_differences(rows, [["LDAM", "DSB-LDAM"]], ["ALT"])


def test_paper_differences_are_table_11_rows_subtracted():
    assert glt.paper_difference("LDAM", "DSB-LDAM", "CLT", "accuracy") == pytest.approx(76.63 - 75.57)
    assert glt.paper_difference("LWS", "DSB-LWS", "ALT", "precision") == pytest.approx(51.16 - 50.61)
    assert glt.paper_difference("BLSoftmax+IFL", "DSB-BLSoftmax+IFL", "GLT", "precision") == pytest.approx(0.83)


def _run(tmp_path, *args):
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "generalized_long_tail.py"), "--quiet",
                          "--out", str(tmp_path / "out"), *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=900, env={**os.environ, "SEMSCALE_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr[-3000:]
    return {name: list(csv.DictReader(open(tmp_path / "out" / f"{name}.csv")))
            for name in ("runs", "summary", "dsb_pairs", "checks")}


def test_smoke_run_writes_every_table(tmp_path):
    tables = _run(tmp_path, "--profile", "smoke")
    runs = tables["runs"]
    assert len(runs) == len(TABLE11_ROWS_RUN) * 3 * 2
    assert {(r["method"], r["protocol"]) for r in runs} == {(m, p) for m in TABLE11_ROWS_RUN
                                                            for p in ("CLT", "GLT", "ALT")}
    assert {r["test"] for r in runs if r["protocol"] == "ALT"} == {"digits-test-gbl"}
    assert {r["train"] for r in runs if r["protocol"] == "ALT"} == {"digits-train-cbl"}
    assert all(0 <= float(r[m]) <= 100 for r in runs for m in ("accuracy", "precision"))
    assert [r["method"] for r in tables["summary"]] == TABLE11_ROWS_RUN
    assert len(tables["dsb_pairs"]) == 5 * 3 * 2
    claims = [c for c in tables["checks"] if c["kind"] == "claim"]
    assert len(claims) == 30 and all(c["verdict"] in ("held", "not held") for c in claims)
    assert {c["paper"] for c in claims if c["id"] == "DSB-LDAM_CLT_accuracy"} == {"+1.06"}


def test_paper_profile_end_to_end_on_miniature_mscoco_glt(tmp_path):
    folder, _ = make_mscoco_glt(tmp_path / "data")
    stage2 = [f"--set=methods.{m}.{k}" for m in ("cRT", "DSB-cRT", "LWS", "DSB-LWS", "cRT+IFL", "LWS+IFL")
              for k in ("epochs=2", "method_options.stage2_epochs=1")]
    tables = _run(tmp_path, "--profile", "paper", "--data-dir", str(tmp_path / "data"), "--set", "epochs=2",
                  "--set", "seeds=[0, 1]", "--set", "backbone=small_cnn", "--set", "width=4",
                  "--set", "image_size=32",
                  "--set", "warmup_epochs=1", "--set", "batch_size=4", "--set", "lr=0.01",
                  "--set", "amp='off'",
                  "--set", f"remap={{'/data4/coco_glt/images/': '{folder}/images/'}}", *stage2)
    runs = tables["runs"]
    ran = TABLE11_ROWS_RUN  # BBN and BLSoftmax+IFL stream their second sampler from the files too
    assert {r["method"] for r in runs} == set(ran) and len(runs) == len(ran) * 3 * 2
    assert {(r["protocol"], r["train"], r["test"]) for r in runs} == {
        ("CLT", "mscoco-glt-train", "mscoco-glt-test_bl"), ("GLT", "mscoco-glt-train", "mscoco-glt-test_bbl"),
        ("ALT", "mscoco-glt-cbl_train", "mscoco-glt-cbl_test_bbl")}
    # Under the paper profile the Table 11 checks are judged against the paper's numbers.
    paper = [c for c in tables["checks"] if c["kind"] == "paper"]
    assert len(paper) == len(ran) * 6 and all(c["verdict"] in ("held", "not held") for c in paper)
    assert len(tables["dsb_pairs"]) == 5 * 3 * 2                      # 5 DSB pairs x 3 protocols x 2 metrics
