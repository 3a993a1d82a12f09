"""`build_loss`: a loss by name."""
from __future__ import annotations

import torch.nn as nn

from .balanced_softmax import BalancedSoftmaxLoss
from .ce import CrossEntropy
from .focal import FocalLoss
from .ldam import LDAMLoss
from .normsoftmax import NormSoftmaxLoss
from .softtriple import SoftTripleLoss


def build_loss(name: str, num_classes: int, class_counts=None, dim: int | None = None, **options) -> nn.Module:
    """A loss by name: ce, focal, ldam, bs (balanced softmax), nsm (NormSoftmax), st (SoftTriple)."""
    name = name.lower()
    if name in ("ldam", "bs") and class_counts is None:
        raise ValueError(f"loss {name!r} needs the training class counts")
    if name in ("nsm", "st") and dim is None:
        raise ValueError(f"loss {name!r} needs the embedding dimension")
    factories = {
        "ce": lambda: CrossEntropy(),
        "focal": lambda: FocalLoss(**options),
        "ldam": lambda: LDAMLoss(class_counts, **options),
        "bs": lambda: BalancedSoftmaxLoss(class_counts),
        "nsm": lambda: NormSoftmaxLoss(num_classes, dim, **options),
        "st": lambda: SoftTripleLoss(num_classes, dim, **options),
    }
    if name not in factories:
        raise ValueError(f"loss {name!r}: expected one of {sorted(factories)}")
    return factories[name]()
