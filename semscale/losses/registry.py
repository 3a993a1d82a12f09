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


# name -> factory(num_classes, class_counts, dim, options); what each needs is checked in build_loss
FACTORIES = {
    "ce": lambda classes, counts, dim, options: CrossEntropy(),
    "focal": lambda classes, counts, dim, options: FocalLoss(**options),
    "ldam": lambda classes, counts, dim, options: LDAMLoss(counts, **options),
    "bs": lambda classes, counts, dim, options: BalancedSoftmaxLoss(counts),
    "lade": lambda classes, counts, dim, options: LADELoss(counts, **options),
    "nsm": lambda classes, counts, dim, options: NormSoftmaxLoss(classes, dim, **options),
    "st": lambda classes, counts, dim, options: SoftTripleLoss(classes, dim, **options),
    "circle": lambda classes, counts, dim, options: CircleLoss(**options),
}
LOSS_NAMES = tuple(FACTORIES)


def build_loss(name: str, num_classes: int, class_counts=None, dim: int | None = None, **options) -> nn.Module:
    """A loss by name: ce, focal, ldam, bs (balanced softmax), lade (LADE), nsm (NormSoftmax), st (SoftTriple),
    circle (Circle loss, metric task)."""
    name = name.lower()
    if name not in FACTORIES:
        raise ValueError(f"loss {name!r}: expected one of {sorted(FACTORIES)}")
    if name in ("ldam", "bs", "lade") and class_counts is None:
        raise ValueError(f"loss {name!r} needs the training class counts")
    if name in ("nsm", "st") and dim is None:
        raise ValueError(f"loss {name!r} needs the embedding dimension")
    return FACTORIES[name](num_classes, class_counts, dim, options)
