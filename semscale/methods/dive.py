"""DiVE: Distilling Virtual Examples (He, Wu & Wei, ICCV 2021), Table 2's DiVE row.

Mechanism (paper Sec. 3-4): a teacher's prediction for an image is read as "virtual examples" of every class; the
virtual example distribution of a balanced-softmax teacher is still long-tailed, so DiVE flattens it before
distilling:
  temperature       p_t = softmax(t / tau)
  power normalising q_c = p_t,c^rho / sum_j p_t,j^rho          (rho < 1 flattens; rho = 0.5 acts like doubling tau)
  student loss      L_i = (1 - a) * BSCE(s_i, y_i) + a * tau^2 * KL(q_i || softmax(s_i / tau))
where BSCE is the balanced-softmax cross-entropy on the student's raw logits (Ren et al.; the paper's teacher and
student term) and the tau^2 factor keeps the distillation gradient's scale (Hinton et al.).
Defaults: tau 3, rho 0.5, a 0.5, the settings reported for DiVE's CIFAR-100-LT runs (the full paper text was not
readable here: the values are from a public re-implementation's summary of the paper's setup, and the power
normalisation's form from a long-tail toolbox's DiVEKLD loss; check tau per dataset against the paper).
The teacher is trained beforehand (a balanced-softmax model) and stays frozen.

Teacher: `teacher` is a frozen module mapping this method's input features (B, D) to logits (B, C), e.g. the head
of a balanced-softmax model sharing the backbone's feature space; an engine that runs a separate teacher network on
the images passes its logits instead, as `method(features, labels, teacher_logits=...)`. The module's parameters
are frozen here (requires_grad False, eval mode kept), so the optimiser never moves it. `teacher_checkpoint`: a
finished engine checkpoint (the paper's setting: a whole balanced-softmax network); the Trainer rebuilds it, runs it
on each batch's images and passes its logits (semscale/engine/teacher.py).

DSB: where the weights go and why. Both terms of L_i belong to sample i (the KL is a per-sample sum over classes,
the batch loss their mean), so `per_sample_loss` returns L_i and the DSB weight of y_i multiplies the whole term:
a sample of a small-scale class weighs more in both its label term and its virtual-example term. The teacher's
targets are not re-weighted; the weights change how much each sample's distillation counts, not what it distils.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses import BalancedSoftmaxLoss
from .base import Method, MethodOutput, per_sample_kl


def power_normalised_targets(teacher_logits: torch.Tensor, temperature: float, power: float) -> torch.Tensor:
    """DiVE's virtual example targets: softmax(t / tau)^rho renormalised to sum to 1 per row."""
    probs = F.softmax(teacher_logits / temperature, dim=1).pow(power)
    return probs / probs.sum(dim=1, keepdim=True)


class DiVE(Method):
    name = "dive"
    needs_counts_for = "its student term is the balanced softmax"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, teacher: nn.Module | None = None,
                 temperature: float = 3.0, power: float = 0.5, distill_weight: float = 0.5,
                 teacher_checkpoint: str = ""):
        super().__init__(feature_dim, num_classes, class_counts)
        if teacher is not None and teacher_checkpoint:
            raise ValueError("DiVE: give a teacher module or a teacher_checkpoint, not both")
        self.teacher_checkpoint = str(teacher_checkpoint)  # the engine loads and runs it (engine/teacher.py)
        if temperature <= 0 or power <= 0:
            raise ValueError(f"DiVE: temperature and power must be positive, got {temperature} and {power}")
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f"DiVE: distill_weight (the paper's a) must lie in [0, 1], got {distill_weight}")
        self.temperature, self.power, self.distill_weight = temperature, power, distill_weight
        self.balanced_softmax = BalancedSoftmaxLoss(self.class_counts)
        self.teacher = teacher
        if teacher is not None:
            teacher.requires_grad_(False)
            teacher.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()   # a frozen teacher keeps its batch-norm statistics and dropout off
        return self

    def forward(self, features, labels=None, teacher_logits=None) -> MethodOutput:
        logits = self.head(features)
        if labels is None or not self.training:
            return MethodOutput(logits)
        if teacher_logits is None:
            if self.teacher is None:
                raise ValueError("DiVE: give a frozen teacher module (option `teacher`) or pass teacher_logits")
            with torch.no_grad():
                teacher_logits = self.teacher(features.detach())
        targets = power_normalised_targets(teacher_logits.detach(), self.temperature, self.power)
        return MethodOutput(logits, {"targets": targets})

    def per_sample_loss(self, output, labels):
        label_term = self.balanced_softmax(output.logits, labels)
        if "targets" not in output.extras:
            return label_term
        student = F.log_softmax(output.logits / self.temperature, dim=1)
        distill_term = self.temperature ** 2 * per_sample_kl(output.extras["targets"], student)
        return (1.0 - self.distill_weight) * label_term + self.distill_weight * distill_term
