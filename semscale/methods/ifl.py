"""IFL, invariant feature learning (Tang et al. 2022, "Invariant Feature Learning for Generalized Long-Tailed
Classification", the GLT benchmark; App. H.3 Table 11 of the paper).

Two training environments share the backbone and head, each giving half of every batch:
  env 1: the instance-balanced order;
  env 2: class-balanced AND re-balanced within each class by how hard each sample is (its softmax probability of the
         true class), so that attribute-rare samples are drawn as often as attribute-frequent ones. Re-estimated from
         the epoch's scores at two milestones (60% and 80% of training). Within class c (n_c >= 5 samples):
             s_i = |1 - (p_i - min p) / max(p - min p)| + 1e-5                    (low confidence -> large s)
             r   = mean of the top 20% of s / mean of the bottom 80% of s        (Pareto head/tail ratio)
             e   = clamp(log 4 / log r, 1, 10)                                    (target ratio 4)
             w_i = s_i^e / sum_{j in c} s_j^e                                     (each class sums to 1)
         classes with fewer than 5 samples get w_i = 1 / n_c.
The loss on the concatenated batch is the balanced softmax plus the centre loss
    L_i = -log softmax_{y_i}(f(x_i) + log p_s) + lambda_t * ||x_i - c_{y_i}||^2
with lambda_t = 0, 0.001, 0.005 from 0%, 60%, 80% of training. The centres c_y are estimated from the samples of both
environments, hence on a distribution balanced over classes and attributes: the unbiased class centres the
invariant features are pulled to. They follow their own SGD step, independent of lambda_t (the release rescales
their gradient by 1 / lambda_t and steps with lr 0.5):
    c_y <- c_y + (2 * lr / B) * sum_{i in batch: y_i = y} (x_i - c_y),    lr = 0.5
whose fixed point on a fixed batch is the mean of that batch's class-y features, i.e. the class mean under the
resampling. Defaults come from the release's `center_dual` config (KaihuaTang/Generalized-Long-Tailed-Benchmarks,
config/algorithms_config.yaml: sample_scale 4, update milestones 60 / 80 and centre weights 0 / 0.001 / 0.005 of 100
epochs, BalancedSoftmax base loss; train_center_dual.py: centre SGD lr 0.5).

Hooks beyond base.py (the engine must call them for IFL to be whole; see the report):
  second_sampling_weights(epoch)  env 2's per-class marginal (instance-balanced before the first update,
                                  uniform over classes after)
  second_instance_weights()       env 2's per-sample weights (N,), or None while env 2 is instance-balanced
  end_of_epoch(epoch, labels, true_class_probs)  the epoch's per-sample p(y_i | x_i) in dataset order; updates env 2
                                  at the milestones

DSB: both terms are per sample, so `per_sample_loss` returns their sum and DSB multiplies it by the weight of each
sample's class (DSB-CE+IFL / DSB-BLSoftmax+IFL, Table 11). A class weight is constant within a class, so weighting
the centre term changes how strongly each class's features are pulled, not where its centre is: the centre step
ignores the weights and still converges to the class mean under the resampling.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .base import MethodOutput
from .blsoftmax import BLSoftmax


def intra_class_weights(labels, true_class_probs, target_ratio: float = 4.0, min_class_size: int = 5) -> np.ndarray:
    """Env 2's per-sample weights (IFL's intra-class re-balancing): each class sums to 1, harder samples weigh more."""
    labels = np.asarray(labels)
    probs = np.asarray(true_class_probs, dtype=np.float64)
    if labels.shape != probs.shape:
        raise ValueError(f"intra_class_weights: labels {labels.shape} and probabilities {probs.shape} differ in shape")
    weights = np.zeros(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < min_class_size:
            weights[members] = 1.0 / len(members)
            continue
        p = probs[members] - probs[members].min()
        s = np.abs(1.0 - p / (p.max() + 1e-9)) + 1e-5
        ordered = np.sort(s)
        head = ordered[:int(len(s) * 0.8)].mean()
        tail = ordered[len(s) - int(len(s) * 0.2):].mean()
        ratio = tail / head + 1e-5
        exponent = float(np.clip(math.log(target_ratio) / math.log(ratio), 1.0, 10.0))
        w = s ** exponent
        weights[members] = w / w.sum()
    return weights


class IFL(BLSoftmax):
    name = "ifl"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, centre_lr: float = 0.5,
                 centre_weights=(0.0, 0.001, 0.005), milestones=(0.6, 0.8), target_ratio: float = 4.0):
        super().__init__(feature_dim, num_classes, class_counts)
        if len(centre_weights) != len(milestones) + 1:
            raise ValueError(f"IFL: centre_weights {centre_weights} needs one more entry than milestones {milestones}")
        self.centre_lr, self.centre_weights, self.milestones = centre_lr, tuple(centre_weights), tuple(milestones)
        self.target_ratio = target_ratio
        self.register_buffer("centres", torch.randn(num_classes, feature_dim))
        self.centre_weight = self.centre_weights[0]
        self.env2_weights: np.ndarray | None = None
        self.epochs = None

    def milestone_epochs(self, epochs: int) -> list[int]:
        """1-based epochs from which each milestone's setting applies (0.6 of 100 -> epoch 61, the release's 60)."""
        return [round(f * epochs) + 1 for f in self.milestones]

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.epochs = epochs
        passed = sum(epoch >= m for m in self.milestone_epochs(epochs))
        self.centre_weight = self.centre_weights[passed]

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None, second=None) -> MethodOutput:
        """second: (features, labels) of the batch drawn by `second_sampling_weights` (the second environment);
        as in the release, the two batches are concatenated into one before the loss."""
        environments = [(features, labels)] if second is None else [(features, labels), second]
        if second is not None:
            if labels is None:
                raise ValueError("IFL: a second batch needs the first batch's labels")
            features, labels = torch.cat([features, second[0]]), torch.cat([labels, second[1]])
        output = MethodOutput(self.head(features))
        if labels is not None:
            output.extras["labels"] = labels
            output.extras["features"] = features
            # advanced indexing copies: the loss sees the centres before this batch's step
            output.extras["centres"] = self.centres[labels]
            if self.training:  # under torchrun from every rank's share of both environments, as one process
                gathered = [self.gathered(*environment) for environment in environments]
                self.step_centres(torch.cat([f for f, _ in gathered]), torch.cat([y for _, y in gathered]))
        return output

    @torch.no_grad()
    def step_centres(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """One SGD step (lr centre_lr) on mean_i ||x_i - c_{y_i}||^2 with respect to the centres only."""
        one_hot = torch.nn.functional.one_hot(labels, self.num_classes).to(features.dtype)
        pull = one_hot.t() @ features - one_hot.sum(0)[:, None] * self.centres.to(features.dtype)
        self.centres += (2.0 * self.centre_lr / len(labels)) * pull.to(self.centres.dtype)

    def loss_labels(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        """Both environments' labels when a second batch was concatenated in."""
        return output.extras.get("labels", labels)

    def per_sample_loss(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        labels = self.loss_labels(output, labels)
        loss = super().per_sample_loss(output, labels)
        if self.centre_weight == 0 or "features" not in output.extras:
            return loss
        distance = (output.extras["features"] - output.extras["centres"]).pow(2).sum(1)
        return loss + self.centre_weight * distance

    # ---- the second environment
    def second_sampling_weights(self, epoch: int):
        if self.env2_weights is None:
            return (self.class_counts / self.class_counts.sum()).tolist()
        return [1.0 / self.num_classes] * self.num_classes

    def second_instance_weights(self):
        return self.env2_weights

    def get_extra_state(self):
        """Env 2's weights travel with the state dict, so a resumed run keeps its second environment."""
        return {"env2_weights": self.env2_weights}

    def set_extra_state(self, state) -> None:
        self.env2_weights = state["env2_weights"]

    def wants_true_class_probs(self, epoch: int) -> bool:
        """Whether end_of_epoch uses this epoch's p(y_i | x_i): only at a milestone, so the engine's inference pass
        over the whole training set (a third of an epoch's time on ImageNet-LT) runs only there."""
        if self.epochs is None:
            raise RuntimeError("IFL.wants_true_class_probs: call on_epoch_start(epoch, epochs) first")
        return epoch in self.milestone_epochs(self.epochs)

    def end_of_epoch(self, epoch: int, labels, true_class_probs) -> None:
        """Re-estimate env 2 from this epoch's p(y_i | x_i) at the end of a milestone epoch (the release's 0-based
        60 and 80)."""
        if self.epochs is None:
            raise RuntimeError("IFL.end_of_epoch: call on_epoch_start(epoch, epochs) first")
        if self.wants_true_class_probs(epoch):
            self.env2_weights = intra_class_weights(labels, true_class_probs, self.target_ratio)
