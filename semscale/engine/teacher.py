"""A frozen teacher network from a finished engine checkpoint (DiVE's teacher, Table 2's DiVE row).

DiVE (semscale/methods/dive.py) distils a teacher trained beforehand (a balanced-softmax model of the same data). The
teacher here is a whole network, not a head on the student's features: it is rebuilt from the config its checkpoint
records (the same backbone, head or method, as trained), its weights loaded, frozen and kept in eval mode, and the
engine runs it on every training batch's images (the same augmented views the student sees) under no_grad, passing
its logits to the method as `teacher_logits`. The checkpoint must be finished (its epoch equal to its config's
epochs) and of the same number of classes.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .config import TrainConfig


class Teacher(nn.Module):
    """images -> the teacher network's evaluation logits (a Network's outputs, a MethodNetwork's predict logits)."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True):
        return super().train(False)   # batch-norm statistics and dropout stay as trained

    @torch.no_grad()
    def forward(self, images):
        return self.network(images)[0]


def load_teacher(path, num_classes: int, channels: int, image_size, device) -> Teacher:
    """The finished run at `path` (an engine checkpoint) as a frozen Teacher on `device`."""
    from ..models import build_network
    from .method_network import MethodNetwork
    from .trainer import network_options

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"teacher_checkpoint {path}: no such file; train the teacher first (a finished run's "
                                f"checkpoint, e.g. lt_classification's teacher_row) or fix the path")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not {"config", "model", "epoch"} <= set(state):
        raise ValueError(f"teacher_checkpoint {path}: not a semscale training checkpoint (no config / model / epoch)")
    config = TrainConfig(**state["config"])
    if state["epoch"] != config.epochs:
        raise ValueError(f"teacher_checkpoint {path}: an unfinished run (epoch {state['epoch']} of {config.epochs}); "
                         "finish training the teacher first")
    if config.task != "classification":
        raise ValueError(f"teacher_checkpoint {path}: a {config.task!r} run; a teacher must be a classifier")
    options = {**network_options(config, image_size), "pretrained": None}   # the checkpoint holds every weight
    network = build_network(config.backbone, num_classes, channels, config.task, config.head, config.width,
                            embedding_dim=config.embedding_dim, **options)
    if config.method:
        from ..methods import build_method

        counts = state["model"].get("method.class_counts")
        method = build_method(config.method, network.backbone.out_features, num_classes, counts,
                              **config.method_options)
        network = MethodNetwork(network.backbone, method)
    try:
        network.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"teacher_checkpoint {path}: its weights do not fit a {num_classes}-class "
                         f"{config.backbone} ({error})") from None
    return Teacher(network).to(device)
