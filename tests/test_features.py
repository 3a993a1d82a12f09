"""Feature-space measurement through the CLI: a cached small CNN, then Eq. 3 on its 64-d pooled features."""
import csv

import numpy as np

from semscale.cli import main


def test_feature_space_on_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    args = ["measure", "digits", "--space", "feature", "--epochs", "1", "--no-plot", "--out", str(tmp_path / "a")]
    assert main(args) == 0
    models = list((tmp_path / "cache" / "models").glob("*.pt"))
    assert len(models) == 1
    stamp = models[0].stat().st_mtime_ns
    assert main(args[:-1] + [str(tmp_path / "b")]) == 0  # second run reuses the cached model
    assert models[0].stat().st_mtime_ns == stamp
    a = [float(r["S"]) for r in csv.DictReader(open(tmp_path / "a" / "scales.csv"))]
    b = [float(r["S"]) for r in csv.DictReader(open(tmp_path / "b" / "scales.csv"))]
    assert a == b and len(a) == 10 and max(a) > 0 and np.isfinite(a).all()
