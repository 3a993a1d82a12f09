"""Class weightings, separate from the loss maths (a reducer, in pytorch-metric-learning's terms).

Batch loss = mean_i w[y_i] * loss_i, with weights normalised to sum to C (the class-balanced convention; see
REPLICATION_NOTES section 3). A weighting returns None for "no weights this epoch".
  none     plain mean
  cb       class-balanced: w ~ 1 / E_n, beta 0.9999 (Cui et al.); `start_epoch` > 1 defers it (LDAM-DRW)
  dsb      w ~ 1 / S from the feature pool, from stage 3 on (paper Sec. 4)
  dsb1     w ~ 1 / S', no inter-class interference (App. H.1, "DSB-1")
  cdb      w_c = (1 - acc_c)^tau normalised to sum to C (CDB loss, App. H.2), from the accuracies last observed
           (the Trainer passes each epoch's training accuracy, summed over ranks; the CDB paper uses a validation set)
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


def mixed_weighted_mean(per_sample_a: torch.Tensor, per_sample_b: torch.Tensor, labels_a: torch.Tensor,
                        labels_b: torch.Tensor, lam, class_weights) -> torch.Tensor:
    """Class-weighted batch loss of a MixUp / CutMix batch (Table 3):

        mean_i [ lam_i * w[a_i] * L(z_i, a_i) + (1 - lam_i) * w[b_i] * L(z_i, b_i) ]

    per_sample_a / _b: the per-sample losses against labels_a / labels_b; lam: a float (one per batch, as
    semscale.mixing.BatchMixer gives) or a (B,) tensor; class_weights as in weighted_mean (normalised to sum to C,
    None = the plain mixed loss lam * mean L_a + (1 - lam) * mean L_b).

    Reading of "the DSB weight of a mixed sample": sample i is lam_i of class a_i and 1 - lam_i of class b_i, so its
    total weight is the lambda-mixture lam_i w[a_i] + (1 - lam_i) w[b_i], and each class's share of that weight
    multiplies that class's term of the mixed loss. This is (1) the weighted loss applied to each term of the usual
    mixed criterion lam L(z, a) + (1 - lam) L(z, b), i.e. what DSB-CE gives when dropped into the MixUp/CutMix
    reference code; (2) for cross-entropy, exactly the class-weighted cross-entropy with the soft target
    lam e_a + (1 - lam) e_b, -sum_c w_c t_c log p_c (torch's cross_entropy with weight= and probability targets);
    (3) equal to weighted_mean when lam = 1 or a_i = b_i. The other reading, the mixture weight times the whole mixed
    loss, (lam w_a + (1 - lam) w_b)(lam L_a + (1 - lam) L_b), adds cross terms lam (1 - lam) w_b L_a that weight
    class a's loss by class b's scale, which no single-label DSB loss contains.
    """
    if not torch.is_tensor(lam):
        lam = torch.tensor(float(lam), dtype=per_sample_a.dtype, device=per_sample_a.device)
    # weighted_mean is linear in the per-sample losses, so the two shares can go through it separately.
    return weighted_mean(lam * per_sample_a, labels_a, class_weights) + \
        weighted_mean((1 - lam) * per_sample_b, labels_b, class_weights)


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
        # a tensor on the pool's device: on a GPU run the weights never make a host round trip
        return self.pool.weights_tensor(self.use_interference) if self.pool.reweighting(epoch) else None


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
