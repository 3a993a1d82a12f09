"""The interface every long-tailed method speaks, so that one engine trains all of them with or without DSB.

A method owns what sits on top of the backbone's feature vector (its head or heads, experts, centres, memory) and
says how a batch becomes a loss. The engine's step is, for every method:

    features = backbone(images)                       # (B, D); pool features are made from these as usual
    output   = method(features, labels)               # MethodOutput: logits and whatever the loss needs
                                                      # (BBN: method(features, labels, second=(features2, labels2)))
    terms    = method.per_sample_loss(output, labels)
    loss     = weighted_mean(terms, method.loss_labels(output, labels), class_weights)
               + method.extra_loss(output, labels)    # batch-level terms, never re-weighted
    ...
    logits at test time = method.predict(method(features))

DSB (paper Sec. 4, Eq. 4) multiplies the per-sample terms by the weight of each sample's class: a method puts in
`per_sample_loss` every term that belongs to one sample (its cross-entropy, its share of a distillation or a
diversity term) and in `extra_loss` what belongs to no sample (a regulariser on parameters). Where a method's loss
is not a sum of per-sample terms, its module docstring says where the weights go and why.

`loss_labels(output, labels)` names the class each per-sample term belongs to: `labels` by default; a method whose
terms are not one per batch sample returns its own (BBN: one term for the uniform and one for the reversed sample of
each pair; MBJ: the batch and the memory features it replays), so the class weights still land on the right class.

A method that needs a second batch (`second_sampling_weights` not None, i.e. BBN) is called as
`method(features, labels, second=(second_features, second_labels))`, the second batch drawn by that sampler and put
through the same backbone; the method keeps what it needs of it in `MethodOutput.extras`. DiVE also accepts
`teacher_logits=` from an engine that runs its teacher network on the images.

Hooks with defaults (plain classification with a linear head):
  on_epoch_start(epoch, epochs)    schedules (BBN's cumulative alpha, deferred re-weighting, stage switches)
  sampling_weights(epoch)          per-class sampling probabilities for this epoch (class-balanced, reversed), or
                                   None for the instance-balanced order
  second_sampling_weights(epoch)   BBN's reversed branch: a second batch from another sampler, or None
  trains_backbone(epoch)           False in a decoupled second stage (cRT, LWS, RIDE's router): the backbone is frozen
The engine calls on_epoch_start first each epoch: the other hooks may read the stage it sets (RIDE does).

Under torchrun a method that keeps a memory or statistic of past batches (PaCo's queue, MBJ's memory, TDE's moving
average, IFL's centres) updates it from `gathered`:
every rank's share of the global batch, so each rank's memory is what one process fed the global batches keeps
(DDP also broadcasts rank 0's buffers each forward: equal memories make that harmless).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..distributed import gather_batch


@dataclass
class MethodOutput:
    """What `Method.forward` returns: logits for prediction, and anything the loss needs (per method)."""

    logits: torch.Tensor
    extras: dict = field(default_factory=dict)


class Method(nn.Module):
    """Plain cross-entropy with a linear head: the default every method overrides where it differs."""

    name = "ce"
    needs_counts_for = ""   # what the training class counts are for, in a method that cannot work without them
    # This step's global batch, set by the engine before each training forward: its length (None: the ranks exchange
    # it) and every rank's labels of it on the host (None: a method that needs them reads them back from the device)
    global_batch_size: int | None = None
    global_labels: torch.Tensor | None = None

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None):
        super().__init__()
        if class_counts is None and self.needs_counts_for:
            raise ValueError(f"method {self.name!r} needs the training class counts ({self.needs_counts_for})")
        self.feature_dim, self.num_classes = feature_dim, num_classes
        counts = torch.ones(num_classes) if class_counts is None else torch.as_tensor(class_counts, dtype=torch.float64)
        if counts.shape != (num_classes,):
            raise ValueError(f"class_counts: expected {num_classes} counts, got shape {tuple(counts.shape)}")
        self.register_buffer("class_counts", counts.float())
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> MethodOutput:
        return MethodOutput(self.head(features))

    def gathered(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Detached (features, labels) of every rank's share of this step's global batch, in rank order (this rank's
        own outside torchrun); labels None: zeros."""
        if labels is None:
            labels = torch.zeros(len(features), dtype=torch.long, device=features.device)
        return gather_batch(features.detach(), labels, self.global_batch_size)

    def labels_on_host(self, gathered_labels: torch.Tensor) -> torch.Tensor:
        """The labels `gathered` returned, on the host: the engine's copy (no wait for the device), else read back."""
        if self.global_labels is None:
            return gathered_labels.cpu()
        if len(self.global_labels) != len(gathered_labels) or gathered_labels.device.type == "cpu" and \
                not torch.equal(self.global_labels, gathered_labels):  # checked where it costs no wait
            raise ValueError(f"{type(self).__name__}: the engine's host labels of the global batch "
                             f"({len(self.global_labels)}) are not the batch's ({len(gathered_labels)} gathered)")
        return self.global_labels

    def per_sample_loss(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        """(B,) loss terms, one per sample: what a class weighting (CB, DSB) multiplies."""
        return F.cross_entropy(output.logits, labels, reduction="none")

    def loss_labels(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        """The class of each term of `per_sample_loss` (what a class weighting indexes); the batch labels by default."""
        return labels

    def extra_loss(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        """A scalar added after the weighted mean (regularisers on parameters); zero by default."""
        return output.logits.new_zeros(())

    def predict(self, output: MethodOutput) -> torch.Tensor:
        """Logits used for evaluation (a method may adjust them at inference, e.g. TDE, PC softmax)."""
        return output.logits

    # ---- schedule hooks
    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called before each epoch (1-based)."""

    def sampling_weights(self, epoch: int):
        """Per-class sampling probabilities for this epoch's batches, or None for the plain shuffled order."""
        return None

    def second_sampling_weights(self, epoch: int):
        """Per-class probabilities of a second batch drawn alongside the first (BBN's reversed sampler), or None."""
        return None

    def trains_backbone(self, epoch: int) -> bool:
        return True


def per_sample_kl(target_probs: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """(B,) KL(target || q) = sum_c p_c (log p_c - log q_c), one per row; 0 log 0 taken as 0.

    The per-row form of F.kl_div(log_probs, target_probs, reduction="batchmean"): distillation (DiVE) and RIDE's
    diversity term are per-sample, so a class weighting can multiply them.
    """
    return F.kl_div(log_probs, target_probs, reduction="none").sum(dim=1)
