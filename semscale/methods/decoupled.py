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

Stage 1 by another method (`stage1`, Table 11's cRT+IFL and LWS+IFL): the GLT benchmark trains stage 1 with IFL
(its balanced softmax, centre loss and second environment, semscale/methods/ifl.py) and then runs the same stage 2
on its representation. With stage1="ifl" every stage-1 hook (forward, loss, samplers, IFL's end-of-epoch pass) is
the IFL module's, over the stage-1 epochs only (IFL's milestones are fractions of them); stage 2 is unchanged: the
IFL module's linear head is the classifier cRT re-initialises or LWS scales, learnt with plain cross-entropy under
class-balanced sampling. A stage-1 method qualifies when it predicts with a plain linear head (ce, blsoftmax, ifl);
the others (experts, centres, branches) leave stage 2 no single classifier to re-train.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import Method, MethodOutput


class DecoupledStage2(Method):
    """The shared two-stage schedule; subclasses say what the classifier learns in stage 2."""

    name = "decoupled"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, stage2_epochs: int = 10,
                 stage1: str = "ce", stage1_options: dict | None = None):
        super().__init__(feature_dim, num_classes, class_counts)
        if stage2_epochs < 1:
            raise ValueError(f"{type(self).__name__}: stage2_epochs must be at least 1, got {stage2_epochs}")
        self.stage2_epochs = stage2_epochs
        self.stage1_epochs: int | None = None
        self.stage2 = False  # set each epoch by on_epoch_start
        self.stage1 = None if stage1 == "ce" and not stage1_options else \
            stage1_method(stage1, feature_dim, num_classes, class_counts, stage1_options or {})
        if self.stage1 is not None:
            self.head = self.stage1.head  # one classifier: stage 1 trains it, stage 2 re-trains or scales it

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        if epochs <= self.stage2_epochs:
            raise ValueError(f"{type(self).__name__}: {epochs} epochs leave no stage 1 before the "
                             f"{self.stage2_epochs} stage-2 epochs; raise epochs or lower stage2_epochs")
        self.stage1_epochs = epochs - self.stage2_epochs
        self.stage2 = epoch > self.stage1_epochs
        if self.stage1 is not None and not self.stage2:
            self.stage1.on_epoch_start(epoch, self.stage1_epochs)
        if epoch == self.stage1_epochs + 1:
            self.start_stage2()
        self.set_trainable(stage2=self.stage2)

    # ---- stage 1 is the stage-1 method's, when there is one
    def _stage1_active(self) -> bool:
        return self.stage1 is not None and not self.stage2

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None, second=None) -> MethodOutput:
        if self._stage1_active():
            output = self.stage1(features, labels, second=second) if second is not None else \
                self.stage1(features, labels)
        elif second is not None:
            raise ValueError(f"{type(self).__name__}: stage 2 draws no second batch")
        else:
            output = MethodOutput(self.head(features))
        return self.classify(output)

    def classify(self, output: MethodOutput) -> MethodOutput:
        """What stage 2 learns on top of the head's logits (LWS: a scale a class); nothing by default."""
        return output

    def per_sample_loss(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        if self._stage1_active():
            return self.stage1.per_sample_loss(output, labels)
        return super().per_sample_loss(output, labels)

    def loss_labels(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        return self.stage1.loss_labels(output, labels) if self._stage1_active() else labels

    def extra_loss(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        return self.stage1.extra_loss(output, labels) if self._stage1_active() else super().extra_loss(output, labels)

    def second_sampling_weights(self, epoch: int):
        return self.stage1.second_sampling_weights(epoch) if self._stage1_active() else None

    def second_instance_weights(self):
        return getattr(self.stage1, "second_instance_weights", lambda: None)() if self._stage1_active() else None

    def wants_true_class_probs(self, epoch: int) -> bool:
        """IFL's end-of-epoch pass, in stage 1 only (see ifl.py)."""
        return self._stage1_active() and hasattr(self.stage1, "end_of_epoch") and \
            self.stage1.wants_true_class_probs(epoch)

    def end_of_epoch(self, epoch: int, labels, true_class_probs) -> None:
        if self.wants_true_class_probs(epoch):
            self.stage1.end_of_epoch(epoch, labels, true_class_probs)

    def in_stage2(self, epoch: int) -> bool:
        if self.stage1_epochs is None:
            raise RuntimeError(f"{type(self).__name__}: call on_epoch_start(epoch, epochs) first")
        return epoch > self.stage1_epochs

    def start_stage2(self) -> None:
        """Called once, at the first stage-2 epoch."""

    def set_trainable(self, stage2: bool) -> None:
        """Which of the method's parameters learn in this stage."""

    def sampling_weights(self, epoch: int):
        if self.in_stage2(epoch):
            return [1.0 / self.num_classes] * self.num_classes
        return None if self.stage1 is None else self.stage1.sampling_weights(epoch)

    def trains_backbone(self, epoch: int) -> bool:
        return not self.in_stage2(epoch) and (self.stage1 is None or self.stage1.trains_backbone(epoch))


STAGE1_METHODS = ("ce", "blsoftmax", "ifl")  # those that predict with a plain linear head (the module docstring)


def stage1_method(name: str, feature_dim: int, num_classes: int, class_counts, options: dict) -> Method:
    """The method that trains stage 1 (cRT+IFL: ifl), built by name with its options."""
    from .registry import build_method  # the registry imports this module

    if name not in STAGE1_METHODS:
        raise ValueError(f"stage1 {name!r}: a decoupled stage 2 re-trains a plain linear head; stage1 must be one of "
                         f"{', '.join(STAGE1_METHODS)}")
    return build_method(name, feature_dim, num_classes, class_counts, **options)


class CRT(DecoupledStage2):
    """Classifier re-training: the head is re-initialised at the start of stage 2 and learnt again."""

    name = "crt"

    def start_stage2(self) -> None:
        self.head.reset_parameters()


class LWS(DecoupledStage2):
    """Learnable weight scaling: stage 2 learns f (one scale a class) on top of the frozen stage-1 head."""

    name = "lws"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, stage2_epochs: int = 10,
                 stage1: str = "ce", stage1_options: dict | None = None):
        super().__init__(feature_dim, num_classes, class_counts, stage2_epochs, stage1, stage1_options)
        self.scales = nn.Parameter(torch.ones(num_classes), requires_grad=False)

    def classify(self, output: MethodOutput) -> MethodOutput:
        output.logits = output.logits * self.scales  # f = 1 through stage 1: the stage-1 logits exactly
        return output

    def set_trainable(self, stage2: bool) -> None:
        self.head.requires_grad_(not stage2)
        self.scales.requires_grad_(stage2)
