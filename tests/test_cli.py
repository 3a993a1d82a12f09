"""The `semscale measure` front door on the embedded data and on a features file."""
import csv
import json

import numpy as np
import pytest

from semscale import measure
from semscale.cli import main


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["measure", "--help"])
    out = capsys.readouterr().out
    for option in ("--space", "--alpha", "--scale", "--beta", "--data-dir", "--out", "--labels"):
        assert option in out


def test_measure_features_file(tmp_path, rng, capsys):
    features = np.concatenate([rng.normal(size=(40, 5)) * s for s in (1.0, 0.3, 2.0)])
    labels = np.repeat(np.arange(3), 40)
    np.savez(tmp_path / "f.npz", features=features, labels=labels, class_names=np.array(["a", "b", "c"]))
    assert main(["measure", str(tmp_path / "f.npz"), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "scales.csv")))
    expected = measure(features, labels).scales.s
    np.testing.assert_allclose([float(r["S"]) for r in rows], expected, rtol=1e-12)
    assert (tmp_path / "out" / "radar.png").stat().st_size > 1000
    record = json.load(open(tmp_path / "out" / "record.json"))
    assert record["settings"]["scale_s"] == 5.0 and "commit" in record
    assert "weakest classes by S: b" in capsys.readouterr().out


def test_measure_digits_sample_space(tmp_path):
    assert main(["measure", "digits", "--out", str(tmp_path), "--no-plot"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "scales.csv")))
    assert len(rows) == 10 and max(float(r["S_prime"]) for r in rows) == 1.0


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 2)))
    assert main(["measure", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "missing array(s) ['features', 'labels']" in capsys.readouterr().err


@pytest.mark.parametrize("arrays, expected", [
    ({"features": np.ones((4, 2)), "labels": np.zeros(3, int)}, "bad.npz array 'labels': 3 labels for 4 samples"),
    ({"features": np.array([[0.0, 1], [np.nan, 2]]), "labels": np.zeros(2, int)},
     "bad.npz array 'features': 1 row(s) contain NaN"),
    ({"features": np.eye(3), "labels": np.arange(3), "class_names": np.array(["a", "b"])},
     "bad.npz array 'labels': label 2 has no name ('class_names' holds 2)"),
])
def test_bad_feature_file_names_the_file_and_array(tmp_path, capsys, arrays, expected):
    np.savez(tmp_path / "bad.npz", **arrays)
    assert main(["measure", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o"), "--no-plot"]) == 2
    assert expected in capsys.readouterr().err


def test_npy_features_with_a_missing_or_short_labels_file(tmp_path, capsys):
    np.save(tmp_path / "f.npy", np.eye(4))
    np.save(tmp_path / "l.npy", np.arange(3))
    for labels, expected in (("l.npy", "l.npy: 3 labels for 4 samples"), ("none.npy", "none.npy: no such file")):
        args = ["measure", str(tmp_path / "f.npy"), "--labels", str(tmp_path / labels), "--out", str(tmp_path / "o")]
        assert main(args) == 2
        assert f"--labels {tmp_path / expected}" in capsys.readouterr().err


def test_train_command_dsb_on_digits(tmp_path, capsys):
    out = tmp_path / "metrics.json"
    args = ["train", "digits", "--weighting", "dsb", "--epochs", "2", "--warmup-epochs", "1", "--batch-size", "128",
            "--checkpoint", str(tmp_path / "ckpt.pt"), "--out", str(out)]
    assert main(args) == 0
    metrics = json.load(open(out))
    assert 0 <= metrics["top1"] <= 1 and len(metrics["per_class"]) == 10 and len(metrics["history"]) == 2
    assert (tmp_path / "ckpt.pt").exists()
    assert main(args) == 0  # a finished checkpoint: resumes at the end and reports the same metrics
    assert json.load(open(out))["top1"] == metrics["top1"]


IGNORED = [  # (target, options the target would ignore, the option the error must name, what it applies to)
    ("f.npz", ["--split", "test"], "--split", "a named dataset"),
    ("f.npz", ["--space", "feature"], "--space", "images"),
    ("f.npz", ["--labels", "l.npy"], "--labels", "an .npy of features"),
    ("f.npy", ["--labels", "l.npy", "--features-key", "z"], "--features-key", "an .npz of features"),
    ("digits", ["--labels", "l.npy"], "--labels", "an .npy of features"),
    ("digits", ["--image-size", "8"], "--image-size", "a folder in --space feature"),
    ("digits", ["--epochs", "1"], "--epochs", "images in --space feature"),
    ("digits", ["--space", "feature", "--workers", "2"], "--workers", "images in --space sample"),
    ("folder", ["--split", "test"], "--split", "a named dataset"),
    ("folder", ["--prefix-map", "a=b"], "--prefix-map", "a named dataset read from list files"),
]


@pytest.mark.parametrize("target, options, named, applies_to", IGNORED)
def test_an_option_the_target_would_ignore_is_an_error_naming_it(tmp_path, capsys, target, options, named,
                                                                 applies_to):
    """Before, these ran and wrote results as if the option had been used (a features file 'measured' on the test
    split, a named dataset with --image-size)."""
    (tmp_path / "folder" / "a").mkdir(parents=True)
    path = {"f.npz": str(tmp_path / "f.npz"), "f.npy": str(tmp_path / "f.npy"), "folder": str(tmp_path / "folder"),
            "digits": "digits"}[target]
    out = tmp_path / "out"
    assert main(["measure", path, *options, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"semscale: error: {named}: " in error and f"{named} applies to {applies_to} only: leave it out" in error
    assert not out.exists()


def test_options_the_target_uses_pass_the_check(tmp_path):
    from semscale.cli import _check_measure_options, build_parser

    (tmp_path / "folder").mkdir()
    for target, options in ((str(tmp_path / "f.npy"), ["--labels", "l.npy"]),
                            (str(tmp_path / "f.npz"), ["--features-key", "z", "--labels-key", "y", "--alpha", "2"]),
                            (str(tmp_path / "folder"), ["--space", "feature", "--image-size", "8", "--epochs", "1"]),
                            (str(tmp_path / "folder"), ["--mode", "L", "--workers", "1", "--memory-budget", "1GB"]),
                            ("imagenet-lt", ["--split", "test", "--image-root", "r", "--prefix-map", "a=b"]),
                            ("digits", ["--space", "feature", "--seed", "3", "--data-dir", "d", "--no-download"])):
        _check_measure_options(build_parser().parse_args(["measure", target, *options]))  # no error
