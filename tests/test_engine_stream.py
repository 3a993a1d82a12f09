"""Streaming training over files: a miniature ImageNet-LT (list files, tiny JPEGs, 8 classes) through the DataLoader
with 2 workers and the ImageNet augmentation; the same run killed with SIGKILL and resumed to identical metrics."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from engine_data import LONG_TAIL, list_file_dataset, make_imagenet_lt

ROOT = Path(__file__).resolve().parent.parent
# ImageNet-LT's recipe in miniature: ResNet, RandomResizedCrop + flip, SGD, DSB-CE, two loader processes.
PAPER_LIKE = dict(backbone="resnet18", augment="imagenet", image_size=32, batch_size=16, optimizer="sgd", lr=0.05,
                  weight_decay=5e-4, schedule="linear", weighting="dsb", warmup_epochs=1, workers=2, threads=1,
                  seed=7)


def test_one_epoch_streams_through_two_workers_with_imagenet_augmentation(tmp_path):
    from semscale.train import TrainConfig, Trainer, evaluate

    root = make_imagenet_lt(tmp_path)
    train, test = (list_file_dataset(root, f) for f in ("ImageNet_LT_train.txt", "ImageNet_LT_test.txt"))
    config = TrainConfig(**{**PAPER_LIKE, "epochs": 1})
    trainer = Trainer(config, train, progress=False)
    assert trainer.images is None and trainer.source.loader.num_workers == 2
    assert trainer.source.loader.persistent_workers
    # The training view decodes, crops and flips: two seeds give two different 32 x 32 views of one file.
    view = trainer.source.loader.dataset
    a, label = view[(0, 1)]
    b, _ = view[(0, 2)]
    assert a.shape == (3, 32, 32) and label == 0 and not torch.equal(a, b)
    history = trainer.fit()
    assert len(history) == 1 and np.isfinite(history[0]["loss"]) and history[0]["images_per_second"] > 0
    assert len(trainer.pool) == sum(LONG_TAIL)  # stage 1 keeps every training image's features once
    metrics = evaluate(trainer.network, config, test, None, trainer.counts)
    assert metrics["confusion"].sum() == len(test) and 0 <= metrics["top1"] <= 1


CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    sys.path.insert(0, sys.argv[5])
    from engine_data import kill_after_steps, list_file_dataset
    from semscale import train as T
    config = T.TrainConfig(**json.loads(sys.argv[1]))
    checkpoint, out, kill_at = sys.argv[2], sys.argv[3], int(sys.argv[4])
    root = Path(sys.argv[6])
    if kill_at >= 0:
        kill_after_steps(torch.optim.SGD, kill_at)
    train = list_file_dataset(root, "ImageNet_LT_train.txt")
    test = list_file_dataset(root, "ImageNet_LT_test.txt")
    result = T.train_and_evaluate(config, train, test, checkpoint=checkpoint if checkpoint != "-" else None,
                                  progress=False)
    json.dump({"top1": result["top1"], "per_class": result["per_class"].tolist(),
               "weights": result["pool_weights"].tolist(), "losses": [h["loss"] for h in result["history"]]},
              open(out, "w"))
""")


def run_child(config, checkpoint, out, kill_at, root):
    return subprocess.run([sys.executable, "-c", CHILD, json.dumps(config), str(checkpoint), str(out), str(kill_at),
                           str(ROOT / "tests"), str(root)], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sigkill_then_resume_matches_uninterrupted_streamed_run(tmp_path):
    root = make_imagenet_lt(tmp_path / "lt")
    config = {**PAPER_LIKE, "epochs": 3, "mix": "cutmix"}  # batch mixing draws are seeded per step too
    straight = run_child(config, "-", tmp_path / "straight.json", -1, root)
    assert straight.returncode == 0, straight.stderr[-3000:]
    steps_per_epoch = -(-sum(LONG_TAIL) // 16)
    killed = run_child(config, tmp_path / "ckpt.pt", tmp_path / "killed.json", steps_per_epoch + 2, root)
    assert killed.returncode == -9 and not (tmp_path / "killed.json").exists()
    assert torch.load(tmp_path / "ckpt.pt", weights_only=False)["epoch"] == 1
    resumed = run_child(config, tmp_path / "ckpt.pt", tmp_path / "resumed.json", -1, root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = json.load(open(tmp_path / "straight.json")), json.load(open(tmp_path / "resumed.json"))
    assert a == b and len(a["losses"]) == 3 and np.isfinite(a["losses"]).all()
