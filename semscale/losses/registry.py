"""`build_loss`: a loss by name."""
from __future__ import annotations

import torch.nn as nn

from .balanced_softmax import BalancedSoftmaxLoss
from .ce import CrossEntropy
from .circle import CircleLoss
from .focal import FocalLoss
from .lade import LADELoss
from .ldam import LDAMLoss
from .normsoftmax import NormSoftmaxLoss
from .softtriple import SoftTripleLoss


def build_loss(name: str, num_classes: int, class_counts=None, dim: int | None = None, **options) -> nn.Module:
    """A loss by name: ce, focal, ldam, bs (balanced softmax), lade (LADE), nsm (NormSoftmax), st (SoftTriple),
    circle (Circle loss, metric task)."""
    name = name.lower()
    if name in ("ldam", "bs", "lade") and class_counts is None:
        raise ValueError(f"loss {name!r} needs the training class counts")
    if name in ("nsm", "st") and dim is None:
        raise ValueError(f"loss {name!r} needs the embedding dimension")
    factories = {
        "ce": lambda: CrossEntropy(),
        "focal": lambda: FocalLoss(**options),
        "ldam": lambda: LDAMLoss(class_counts, **options),
        "bs": lambda: BalancedSoftmaxLoss(class_counts),
        "lade": lambda: LADELoss(class_counts, **options),
        "nsm": lambda: NormSoftmaxLoss(num_classes, dim, **options),
        "st": lambda: SoftTripleLoss(num_classes, dim, **options),
        "circle": lambda: CircleLoss(**options),
    }
    if name not in factories:
        raise ValueError(f"loss {name!r}: expected one of {sorted(factories)}")
    return factories[name]()
