"""`semscale train`: every TrainConfig field is an option, YAML configs with overrides, the per-epoch CSV log."""
import csv
import json
from dataclasses import fields

import pytest
import torch

from semscale.cli import build_parser, main
from semscale.engine.cli_config import resolve_config
from semscale.engine.config import CHOICES, TrainConfig, defaults_of


def other_value(name, default):
    """A valid value different from the default, as text for the command line, and as the parsed value."""
    if name in CHOICES:
        value = next(c for c in CHOICES[name] if c != default)
        return value, value
    if isinstance(default, bool):
        return str(not default).lower(), not default
    if isinstance(default, int):
        return str(default + 3), default + 3
    if isinstance(default, float):
        return str(default + 0.25), default + 0.25
    if isinstance(default, dict):
        return "{gamma: 2}", {"gamma": 2}
    if isinstance(default, list):
        return "[30, 60]", [30, 60]
    return "somewhere", "somewhere"


def test_every_field_is_an_option():
    defaults = defaults_of()
    for item in fields(TrainConfig):
        if item.name == "mix":
            continue  # mixing needs task classification, the default: checked below
        text, value = other_value(item.name, defaults[item.name])
        args = build_parser().parse_args(["train", "digits", "--" + item.name.replace("_", "-"), text])
        config = resolve_config(args)
        assert getattr(config, item.name) == value, item.name
        assert all(getattr(config, f.name) == defaults[f.name] for f in fields(TrainConfig) if f.name != item.name
                   and not (item.name == "loss" and f.name == "head"))
    assert resolve_config(build_parser().parse_args(["train", "d", "--mix", "cutmix"])).mix == "cutmix"
    assert resolve_config(build_parser().parse_args(["train", "d", "--loss", "ldam"])).head == "cosine"


def test_config_file_then_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 7\nlr: 0.5\nloss_options:\n  gamma: 1.5\n")
    args = build_parser().parse_args(["train", "d", "--config", str(tmp_path / "c.yaml"), "--lr", "0.1"])
    config = resolve_config(args)
    assert (config.epochs, config.lr, config.loss_options) == (7, 0.1, {"gamma": 1.5})


def test_bad_config_file_names_the_file_and_field(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("epochz: 7\n")
    assert main(["train", "digits", "--config", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "c.yaml: unknown field(s) ['epochz']" in err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "d", "--amp", "fp8"])


def test_train_prints_config_and_logs_one_csv_row_per_epoch(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("width: 4\nepochs: 5\nbatch_size: 128\nwarmup_epochs: 1\nweighting: dsb\n")
    out, log = tmp_path / "m.json", tmp_path / "log.csv"
    assert main(["train", "digits", "--config", str(tmp_path / "c.yaml"), "--epochs", "2", "--out", str(out),
                 "--log", str(log), "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert "resolved config" in captured.out and "epochs: 2\n" in captured.out and "weighting: dsb" in captured.out
    assert "img/s" in captured.out
    rows = list(csv.DictReader(open(log)))
    metrics = json.load(open(out))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row, record in zip(rows, metrics["history"]):
        for column in ("loss", "lr", "iterations_per_second", "images_per_second", "weighting_share", "top1"):
            assert float(row[column]) == pytest.approx(record[column], rel=1e-12), column
    assert float(rows[0]["lr"]) == 0.01 and float(rows[1]["lr"]) == pytest.approx(0.01 * 0.98)
    assert float(rows[-1]["top1"]) == metrics["top1"]  # the last row's test metrics are the final ones
    assert {"head", "middle", "tail", "macro_ap"} <= set(rows[0])


def test_train_on_folders_streams_them_in_the_training_folders_mode(tmp_path, monkeypatch, capsys):
    """A grey training folder and a colour test folder of other sizes: both streamed from disk at --image-size (never
    stacked in memory), the test images decoded grey like the training ones, so the model's channels fit."""
    import semscale.data.folders as folders
    from miniature import make_image_folder

    def stacked(*args, **kwargs):
        raise AssertionError("a training folder was stacked in memory")

    monkeypatch.setattr(folders, "stack_resized", stacked)
    train = make_image_folder(tmp_path / "train", per_class=6, size=20, mode="L")
    test = make_image_folder(tmp_path / "test", per_class=3, size=24, mode="RGB", seed=1)
    out = tmp_path / "m.json"
    args = ["train", str(train), "--test-folder", str(test), "--epochs", "1", "--width", "4", "--batch-size", "6",
            "--workers", "0", "--threads", "1", "--out", str(out)]
    assert main(args + ["--image-size", "16"]) == 0
    assert len(json.load(open(out))["per_class"]) == 3
    assert main(args) == 2  # no --image-size: one clear message, before any training
    assert "--image-size: a folder's images are streamed" in capsys.readouterr().err
    assert main(["train", str(train), "--image-size", "16"]) == 2
    assert "--test-folder: needed" in capsys.readouterr().err
    assert main(args + ["--image-size", "16", "--data-dir", str(tmp_path)]) == 2
    assert "--data-dir is searched for a named dataset only: leave it out" in capsys.readouterr().err


def test_train_on_a_folder_with_a_broken_image_names_it_through_the_loader_workers(tmp_path, capsys):
    from miniature import make_image_folder

    train = make_image_folder(tmp_path / "train", per_class=4, size=12, mode="L")
    (train / "dog" / "broken.png").write_bytes(b"not an image")
    args = ["train", str(train), "--test-folder", str(train), "--mode", "L", "--image-size", "8", "--epochs", "1",
            "--width", "2", "--workers", "2", "--threads", "1", "--out", str(tmp_path / "m.json")]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert f"semscale: error: train: cannot decode {train / 'dog' / 'broken.png'}" in error
    assert "Traceback" not in error and "DataLoader worker" not in error


def test_summary_line_names_the_bands_and_says_when_one_has_no_class():
    from semscale.engine.cli_config import summary_line

    line = summary_line({"top1": 0.5, "head": float("nan"), "middle": 0.25, "tail": 0.75, "macro_ap": 0.625})
    assert line == ("top1 0.5000, head (>100 training images): no class, middle (20-100) 0.2500, tail (<20) 0.7500, "
                    "macro_ap 0.6250")


def test_train_on_a_named_file_dataset_in_another_mode(tmp_path, monkeypatch, capsys):
    """--mode on a named dataset read from files: the model is built for that many channels and both splits are
    decoded in it (before, --mode was silently ignored off folders). A dataset held in memory keeps its channels,
    and --test-folder beside a named dataset is an error, not silently unused."""
    import semscale.engine.train_command as command
    from miniature_large import make_imagenet_lt_layout
    from semscale.engine.trainer import Trainer

    make_imagenet_lt_layout(tmp_path)
    seen = {}

    class Spy(Trainer):
        def __init__(self, config, train, *args, **kwargs):
            super().__init__(config, train, *args, **kwargs)
            seen["train"], seen["conv"] = train, next(m for m in self.network.modules()
                                                      if isinstance(m, torch.nn.Conv2d))

    def evaluate(network, config, test, *args):
        seen["test"] = test
        return {"top1": 0.5}

    monkeypatch.setattr(command, "Trainer", Spy)
    monkeypatch.setattr(command, "evaluate", evaluate)
    args = ["train", "imagenet-lt", "--data-dir", str(tmp_path), "--image-size", "8", "--epochs", "1", "--width", "2",
            "--workers", "0", "--threads", "1", "--log", str(tmp_path / "log.csv")]
    assert main(args + ["--mode", "L"]) == 0
    assert seen["conv"].in_channels == 1
    assert (seen["train"].mode, seen["test"].mode) == ("L", "L")
    assert seen["train"][0][0].shape[0] == seen["test"][0][0].shape[0] == 1
    assert main(args) == 0 and seen["conv"].in_channels == 3  # the list files' own mode: colour
    capsys.readouterr()
    assert main(["train", "digits", "--mode", "RGB", "--epochs", "1"]) == 2
    assert "--mode: digits is held in memory with its native channels (L); leave --mode out" in capsys.readouterr().err
    assert main(["train", "digits", "--test-folder", str(tmp_path), "--epochs", "1"]) == 2
    assert "--test-folder: digits is evaluated on its own test split" in capsys.readouterr().err


def test_the_loss_choices_are_every_registered_loss(capsys):
    """--loss offered ce..st only: LADE (a Table 2 row) and Circle (Table 4) were refused by the command line though
    TrainConfig and build_loss take them."""
    from semscale.losses.registry import LOSS_NAMES

    assert sorted(CHOICES["loss"]) == sorted(LOSS_NAMES)
    for name in ("lade", "circle"):
        assert resolve_config(build_parser().parse_args(["train", "d", "--loss", name])).loss == name


def test_zero_epochs_is_an_error_not_an_untrained_evaluation(capsys):
    assert main(["train", "digits", "--epochs", "0"]) == 2
    assert "TrainConfig.epochs = 0: expected a positive integer" in capsys.readouterr().err
