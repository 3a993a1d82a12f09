"""The README's drop-in DSB loop ("Use the DSB loss in your own training") runs as printed, with a user's own
backbone, head and loader, and the loss it computes is Alg. 2's: mean over the batch of w_{y_i} * CE_i, with w the
DSB weights (1/S, summing to C) of the pool's contents recomputed from scratch."""
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from semscale.pool import weights_from_scratch

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_snippet() -> str:
    section = README.read_text().split("## Use the DSB loss in your own training", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_dsb_loop_runs_and_weights_the_loss_by_the_pools_scales():
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16
    labels = torch.tensor(digits.target)
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU())
    namespace = {"num_classes": 10, "epochs": 6, "device": "cpu", "backbone": backbone,
                 "head": torch.nn.Linear(128, 10), "loader": list(zip(images.split(256), labels.split(256)))}
    exec(compile(readme_snippet(), str(README), "exec"), namespace)  # stage 3 from epoch 6 (warmup_epochs=5)

    pool, loss, x, y = (namespace[k] for k in ("pool", "loss", "x", "y"))
    features, pool_labels = pool.contents()
    assert len(pool_labels) == len(labels)  # after epoch 1 every batch enqueued dequeues the oldest
    weights = weights_from_scratch(features, pool_labels, 10, alpha=2.0)
    with torch.no_grad():
        per_sample = F.cross_entropy(namespace["head"](backbone(x)), y, reduction="none").double().numpy()
    by_hand = sum(weights[label] * value for label, value in zip(y.tolist(), per_sample)) / len(y)
    assert abs(loss.item() - by_hand) <= 1e-5 * by_hand
    assert not np.allclose(weights, 1.0)  # the loss really was re-weighted
