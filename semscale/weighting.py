"""Class weightings, separate from the loss maths (a reducer, in pytorch-metric-learning's terms).

Batch loss = mean_i w[y_i] * loss_i, with weights normalised to sum to C (the class-balanced convention; see
REPLICATION_NOTES section 3). A weighting returns None for "no weights this epoch".
  none     plain mean
  cb       class-balanced: w ~ 1 / E_n, beta 0.9999 (Cui et al.); `start_epoch` > 1 defers it (LDAM-DRW)
  dsb      w ~ 1 / S from the feature pool, from stage 3 on (paper Sec. 4)
  dsb1     w ~ 1 / S', no inter-class interference (App. H.1, "DSB-1")
  cdb      w_c = (1 - acc_c)^tau normalised to sum to C (CDB loss, App. H.2), from the last evaluated accuracies
"""
from __future__ import annotations

import numpy as np
import torch

from .pool import FeaturePool
from .scales import effective_number


def normalise_to_count(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    return weights * (len(weights) / weights.sum())


def weighted_mean(per_sample: torch.Tensor, labels: torch.Tensor, class_weights) -> torch.Tensor:
    if class_weights is None:
        return per_sample.mean()
    weights = torch.as_tensor(class_weights, dtype=per_sample.dtype, device=per_sample.device)
    return (per_sample * weights[labels]).mean()


class Weighting:
    name = "none"
    needs_pool = False

    def class_weights(self, epoch: int):
        return None

    def observe_accuracy(self, per_class_accuracy) -> None:
        """Called after each evaluation; only accuracy-based weightings use it."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class ClassBalanced(Weighting):
    name = "cb"

    def __init__(self, class_counts, beta: float = 0.9999, start_epoch: int = 1):
        self.weights = normalise_to_count(1.0 / np.maximum(effective_number(class_counts, beta), 1e-12))
        self.start_epoch = start_epoch

    def class_weights(self, epoch):
        return self.weights if epoch >= self.start_epoch else None


class DSB(Weighting):
    """1/S weights from a FeaturePool; None in stages 1-2 (the plain loss)."""

    needs_pool = True

    def __init__(self, pool: FeaturePool, use_interference: bool = True):
        self.pool, self.use_interference = pool, use_interference
        self.name = "dsb" if use_interference else "dsb1"

    def class_weights(self, epoch):
        return self.pool.weights(self.use_interference) if self.pool.reweighting(epoch) else None


class CDB(Weighting):
    name = "cdb"

    def __init__(self, num_classes: int, tau: float = 1.0):
        self.tau, self.weights = tau, None
        self.num_classes = num_classes

    def observe_accuracy(self, per_class_accuracy):
        difficulty = np.clip(1.0 - np.asarray(per_class_accuracy, dtype=np.float64), 1e-6, None) ** self.tau
        self.weights = normalise_to_count(difficulty)

    def class_weights(self, epoch):
        return self.weights

    def state_dict(self):
        return {"weights": self.weights}

    def load_state_dict(self, state):
        self.weights = state.get("weights")


def build_weighting(name: str, num_classes: int, class_counts=None, pool: FeaturePool | None = None,
                    **options) -> Weighting:
    name = name.lower()
    if name == "none":
        return Weighting()
    if name == "cb":
        if class_counts is None:
            raise ValueError("weighting 'cb' needs the training class counts")
        return ClassBalanced(class_counts, **options)
    if name in ("dsb", "dsb1"):
        if pool is None:
            raise ValueError(f"weighting {name!r} needs a FeaturePool")
        return DSB(pool, use_interference=name == "dsb")
    if name == "cdb":
        return CDB(num_classes, **options)
    raise ValueError(f"weighting {name!r}: expected one of none, cb, dsb, dsb1, cdb")
