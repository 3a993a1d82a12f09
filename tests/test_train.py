"""Training loop: determinism, resume after SIGKILL, metrics, and the pool fed through training."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from semscale.data import load_dataset
from semscale.evaluate import nmi, recall_at_k
from semscale.train import TrainConfig, train_and_evaluate

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(backbone="small_cnn", width=4, epochs=3, batch_size=128, warmup_epochs=1, weighting="dsb", seed=3)

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from semscale.data import load_dataset
    from semscale import train as T
    config = T.TrainConfig(**json.loads(sys.argv[1]))
    checkpoint, out, kill_at = sys.argv[2], sys.argv[3], int(sys.argv[4])
    if kill_at >= 0:  # die hard partway through training: at the `kill_at`-th optimizer step
        sys.path.insert(0, "tests")
        from engine_data import kill_after_steps
        kill_after_steps(torch.optim.Adam, kill_at)
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    result = T.train_and_evaluate(config, train, test, checkpoint=checkpoint if checkpoint != "-" else None,
                                  progress=False)
    json.dump({"top1": result["top1"], "per_class": result["per_class"].tolist(),
               "weights": result["pool_weights"].tolist(),
               "losses": [h["loss"] for h in result["history"]]}, open(out, "w"))
""")


def run_child(config, checkpoint, out, kill_at):
    return subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), str(checkpoint), str(out), str(kill_at)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    straight = run_child(TINY, "-", tmp_path / "straight.json", -1)
    assert straight.returncode == 0, straight.stderr
    steps_per_epoch = -(-1347 // 128)
    killed = run_child(TINY, tmp_path / "ckpt.pt", tmp_path / "killed.json", steps_per_epoch + 4)
    assert killed.returncode == -9 and not (tmp_path / "killed.json").exists()
    state = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert state["epoch"] == 1  # died in epoch 2, after epoch 1's checkpoint
    resumed = run_child(TINY, tmp_path / "ckpt.pt", tmp_path / "resumed.json", -1)
    assert resumed.returncode == 0, resumed.stderr
    a, b = json.load(open(tmp_path / "straight.json")), json.load(open(tmp_path / "resumed.json"))
    assert a == b


def test_checkpoint_of_another_config_is_refused(tmp_path):
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    train_and_evaluate(TrainConfig(**{**TINY, "epochs": 1}), train, test, tmp_path / "c.pt", progress=False)
    with pytest.raises(ValueError, match=r"differs in \['lr'\]: lr: 0.01 there, 0.5 here"):
        train_and_evaluate(TrainConfig(**{**TINY, "epochs": 1, "lr": 0.5}), train, test, tmp_path / "c.pt",
                           progress=False)


def test_same_seed_same_result():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    config = TrainConfig(**{**TINY, "epochs": 2})
    a = train_and_evaluate(config, train, test, progress=False)
    b = train_and_evaluate(config, train, test, progress=False)
    assert a["top1"] == b["top1"] and np.array_equal(a["pool_weights"], b["pool_weights"])
    assert a["history"][0]["stage"] == 1 and a["history"][1]["stage"] == 3
    assert np.isfinite(a["pool_weights"]).all() and a["pool_weights"].sum() == pytest.approx(10)
    assert a["confusion"].sum() == len(test.labels) and 0 <= a["macro_ap"] <= 1


@pytest.mark.parametrize("loss,weighting", [("focal", "cb"), ("ldam", "dsb1"), ("bs", "cdb")])
def test_losses_train(loss, weighting):
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    config = TrainConfig(**{**TINY, "epochs": 1, "loss": loss, "weighting": weighting,
                            "head": "cosine" if loss == "ldam" else "linear"})
    result = train_and_evaluate(config, train, test, progress=False)
    assert np.isfinite(result["history"][0]["loss"])


@pytest.mark.parametrize("loss", ["nsm", "st"])
def test_metric_learning_trains(loss):
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    config = TrainConfig(**{**TINY, "epochs": 2, "task": "metric", "loss": loss})
    result = train_and_evaluate(config, train, test, progress=False)
    assert set(result["recall_at_k"]) == {1, 2, 4, 8} and 0 <= result["nmi"] <= 1
    assert result["recall_at_k"][1] > 0.3  # well above the 0.1 of chance on ten classes


def test_recall_at_k_by_hand():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    labels = np.array([0, 1, 1, 1])
    # Nearest of 0 is 1 (label 1: miss); of 1 is 0 (miss); of 2 is 3 (hit); of 3 is 2 (hit).
    assert recall_at_k(x, labels, ks=(1, 2)) == {1: 0.5, 2: 0.75}
    assert nmi(np.array([[0.0], [0.1], [5.0], [5.1]]), np.array([0, 0, 1, 1])) == pytest.approx(1.0)


class Interrupt(Exception):
    pass


def test_resume_with_dropout_draws_what_an_uninterrupted_run_draws(tmp_path, monkeypatch):
    """Epochs reseed the global generator from (seed, epoch): dropout after a resume matches the straight run."""
    from semscale.engine import trainer as trainer_module
    from semscale.train import Trainer

    build = trainer_module.build_network

    def with_dropout(*args, **kwargs):
        network = build(*args, **kwargs)
        network.backbone = torch.nn.Sequential(network.backbone, torch.nn.Dropout(0.5))
        return network

    monkeypatch.setattr(trainer_module, "build_network", with_dropout)
    train = load_dataset("digits", "train")
    config = TrainConfig(**{**TINY, "epochs": 2, "weighting": "none", "threads": 1})
    straight = Trainer(config, train, progress=False)
    straight.fit()

    def stop(trainer, record):
        raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(config, train, checkpoint=tmp_path / "c.pt", progress=False).fit(on_epoch=stop)
    torch.rand(5)  # the resuming process's global stream is elsewhere
    resumed = Trainer(config, train, checkpoint=tmp_path / "c.pt", progress=False)
    assert resumed.epoch == 1
    resumed.fit()
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history]
    for p, q in zip(straight.network.parameters(), resumed.network.parameters()):
        assert torch.equal(p, q)
