"""cRT and LWS, the decoupled second stage (Kang et al. 2020, "Decoupling Representation and Classifier for Long-Tailed
Recognition", Sec. 4; Table 11 of the paper, with and without DSB).

Stage 1 (epochs 1 .. E - E2): joint training of backbone and linear classifier, cross-entropy, instance-balanced
sampling (p_j = n_j^q / sum_i n_i^q with q = 1, Kang Eq. 1).
Stage 2 (the last E2 epochs): the backbone is frozen and only the classifier is learnt, with class-balanced sampling
(q = 0: every class drawn with probability 1 / C, then a sample uniformly within it):
  cRT  classifier re-training: W and b re-initialised at the start of stage 2 and re-trained with cross-entropy;
  LWS  learnable weight scaling: W and b kept from stage 1, a scale f_j per class learnt (initialised to 1):
       logits_j = f_j * (w_j^T x + b_j)                 (Kang Sec. 4: w~_i = f_i * w_i)
Default E2 = 10: the stage-2 length of Kang et al. (10 epochs on ImageNet-LT / iNaturalist) and of the GLT
benchmark's crt_stage2 / lws_stage2 configs (num_epochs 10, ClassAwareSampler). The stage-2 learning rate is the
engine's; Kang's release re-trains with a fresh cosine schedule, and a fresh optimizer state is advisable at the
switch (SGD momentum of stage 1 would otherwise keep pushing cRT's re-initialised head).

DSB: both stages' losses are per-sample cross-entropy, so `per_sample_loss` returns it and DSB multiplies it by the
weight of each sample's class (DSB-cRT, DSB-LWS). In stage 2 the features are frozen, so the pool's semantic scales
are those of the final representation. Class-balanced sampling and DSB compose: the sampler fixes how often a class
is seen, DSB how much each of its samples counts.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import Method, MethodOutput


class DecoupledStage2(Method):
    """The shared two-stage schedule; subclasses say what the classifier learns in stage 2."""

    name = "decoupled"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, stage2_epochs: int = 10):
        super().__init__(feature_dim, num_classes, class_counts)
        if stage2_epochs < 1:
            raise ValueError(f"{type(self).__name__}: stage2_epochs must be at least 1, got {stage2_epochs}")
        self.stage2_epochs = stage2_epochs
        self.stage1_epochs: int | None = None

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        if epochs <= self.stage2_epochs:
            raise ValueError(f"{type(self).__name__}: {epochs} epochs leave no stage 1 before the "
                             f"{self.stage2_epochs} stage-2 epochs; raise epochs or lower stage2_epochs")
        self.stage1_epochs = epochs - self.stage2_epochs
        if epoch == self.stage1_epochs + 1:
            self.start_stage2()
        self.set_trainable(stage2=epoch > self.stage1_epochs)

    def in_stage2(self, epoch: int) -> bool:
        if self.stage1_epochs is None:
            raise RuntimeError(f"{type(self).__name__}: call on_epoch_start(epoch, epochs) first")
        return epoch > self.stage1_epochs

    def start_stage2(self) -> None:
        """Called once, at the first stage-2 epoch."""

    def set_trainable(self, stage2: bool) -> None:
        """Which of the method's parameters learn in this stage."""

    def sampling_weights(self, epoch: int):
        return [1.0 / self.num_classes] * self.num_classes if self.in_stage2(epoch) else None

    def trains_backbone(self, epoch: int) -> bool:
        return not self.in_stage2(epoch)


class CRT(DecoupledStage2):
    """Classifier re-training: the head is re-initialised at the start of stage 2 and learnt again."""

    name = "crt"

    def start_stage2(self) -> None:
        self.head.reset_parameters()


class LWS(DecoupledStage2):
    """Learnable weight scaling: stage 2 learns f (one scale a class) on top of the frozen stage-1 head."""

    name = "lws"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, stage2_epochs: int = 10):
        super().__init__(feature_dim, num_classes, class_counts, stage2_epochs)
        self.scales = nn.Parameter(torch.ones(num_classes), requires_grad=False)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> MethodOutput:
        return MethodOutput(self.head(features) * self.scales)

    def set_trainable(self, stage2: bool) -> None:
        self.head.requires_grad_(not stage2)
        self.scales.requires_grad_(stage2)
