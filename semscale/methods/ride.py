"""RIDE: Routing Diverse Distribution-Aware Experts (Wang et al., ICLR 2021, "Long-tailed Recognition by Routing
Diverse Distribution-Aware Experts"), Table 2's RIDE and DSB+RIDE rows.

Mechanism (paper Sec. 3; facts and defaults from the paper and the authors' release, RIDE-LongTailRecognition):
  * K experts on shared early layers, each a cosine classifier scaled by s: z_k = s * cos(W_k, h_k(x)); the model's
    output is the mean of the experts' logits. Here the backbone is the shared part and each expert is a branch
    head on the backbone's feature vector (Linear D->`expert_dim`, ReLU, cosine classifier): the engine owns one
    backbone, so the experts' later residual stages are not split off (a cleaner split needs the engine's help).
  * Per-expert LDAM loss (Eq. 4's first term): margins C / n_y^(1/4) rescaled to max 0.5, scale s = 30, from
    `semscale.losses.LDAMLoss`; the release's deferred re-weighting of that loss (class-balanced weights from epoch
    `reweight_epoch` + 1) is a class weighting, so it lives in the engine's weighting (plain RIDE: `cb` weighting
    with `start_epoch = reweight_epoch + 1`; DSB+RIDE: DSB's weights instead), not inside this module.
  * Distribution-aware diversity loss (Eq. 4's second term): for each expert,
        lambda * T_bar^2 * KL(softmax(z_bar / T) || softmax(z_k / T)),   z_bar = mean_k z_k (no gradient),
    lambda = -0.2 (negative: it pushes the experts apart), T a per-class temperature once re-weighting starts,
        w_c = C * (n_c / N) * r + 1 - r, w <- w / max w, T_c = T_0 * w_c, T_bar = mean_c T_c,
    so head classes keep a higher temperature than tail classes (frequency-aware diversity); before that T = T_0.
    Defaults: T_0 1.0, r 0.02 and reweight_epoch 80 of 100 (release: configs/config_imagenet_lt_resnext50_ride.json
    and RIDELoss's defaults), 3 experts.
  * The expert router ("expert assignment", Sec. 3.3): a second stage trains only a small router that, after
    expert k, decides whether the sample needs expert k + 1. Input: the top-`top_choices` logits of the mean of the
    first k + 1 experts and ReLU(Linear(normalised h_k) -> 16); one output unit shared by all routers. Target:
    "the first k + 1 experts are wrong and some later cumulative prediction is right"; loss: binary cross-entropy
    with pos_weight, averaged over the K - 1 routers. Release (config_imagenet_lt_resnext50_ride_ea.json):
    top_choices 50, pos_weight 100, 5 epochs with class-balanced sampling, everything but the router frozen. At test
    time a sample goes on to expert k + 1 while sigmoid(router_k) > 0.5, and its logits are the mean of the experts
    it used.

Stages: with `router_epochs` = R > 0 the last R epochs of the run are the router stage (`trains_backbone` False,
class-balanced `sampling_weights`, experts frozen); `on_epoch_start` sets the stage, so call it before asking for
the epoch's sampling weights.

DSB: where the weights go and why. RIDE's stage-1 loss is a batch mean of per-sample terms: for sample i,
sum_k [LDAM_k(i) + lambda T_bar^2 KL_i(k)] (the release's KL uses batchmean, i.e. the mean of per-sample KLs), so
`per_sample_loss` returns that sum and the DSB weight of y_i multiplies all of sample i's terms, as DRW's weights
multiply the LDAM terms in the release (there the diversity term is not re-weighted: DSB+RIDE weights it too, since
the weights say how much sample i counts). The router's loss is not class-weighted (RIDE balances it by sampling),
so it goes to `extra_loss` and the stage-2 per-sample terms are zero.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses import LDAMLoss
from .base import Method, MethodOutput, per_sample_kl


class CosineClassifier(nn.Module):
    """cos(x, w_c) for every class: normalised features times normalised class weights (RIDE's NormedLinear)."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, num_classes).uniform_(-1, 1))

    def forward(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


def diversity_temperatures(class_counts, base_temperature: float, reweight_factor: float) -> torch.Tensor:
    """RIDE's per-class diversity temperatures T_0 * w_c, w_c = C (n_c / N) r + 1 - r, scaled so max w_c = 1."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    weights = len(counts) * counts / counts.sum() * reweight_factor + 1.0 - reweight_factor
    if (weights <= 0).any():
        raise ValueError(f"RIDE: reweight_factor {reweight_factor} is too large: a class temperature is not positive")
    return (base_temperature * weights / weights.max()).float()


def router_targets(expert_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, K - 1) targets of the K - 1 routers: the first k + 1 experts' mean is wrong and a later mean is right."""
    cumulative = expert_logits.cumsum(0)                          # (K, B, C); argmax of a sum = argmax of a mean
    correct = cumulative.argmax(2) == labels[None, :]             # (K, B)
    later_right = correct.flip(0).cummax(0).values.flip(0)        # any(correct[j:]) for every j
    return ((~correct[:-1]) & later_right[1:]).t().float()


class RIDE(Method):
    name = "ride"
    needs_counts_for = "LDAM margins, diversity temperatures"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, num_experts: int = 3,
                 expert_dim: int | None = None, scale: float = 30.0, max_margin: float = 0.5,
                 diversity_factor: float = -0.2, base_diversity_temperature: float = 1.0,
                 reweight_factor: float = 0.02, reweight_epoch: int = 80, router_epochs: int = 0,
                 router_hidden: int = 16, top_choices: int = 50, pos_weight: float = 100.0):
        super().__init__(feature_dim, num_classes, class_counts)
        if num_experts < 1:
            raise ValueError(f"RIDE: num_experts must be at least 1, got {num_experts}")
        del self.head                                             # the experts are the classifier
        width = expert_dim or feature_dim
        self.num_experts, self.scale = num_experts, scale
        self.branches = nn.ModuleList(nn.Sequential(nn.Linear(feature_dim, width), nn.ReLU())
                                      for _ in range(num_experts))
        self.classifiers = nn.ModuleList(CosineClassifier(width, num_classes) for _ in range(num_experts))
        self.ldam = LDAMLoss(self.class_counts, max_margin=max_margin, scale=scale)
        self.diversity_factor, self.base_diversity_temperature = diversity_factor, base_diversity_temperature
        self.register_buffer("class_temperatures",
                             diversity_temperatures(self.class_counts, base_diversity_temperature, reweight_factor))
        self.reweight_epoch, self.router_epochs = reweight_epoch, router_epochs
        self.top_choices, self.pos_weight = min(top_choices, num_classes), pos_weight
        self.router_hidden = nn.ModuleList(nn.Linear(width, router_hidden) for _ in range(num_experts - 1))
        self.router_out = nn.Linear(router_hidden + self.top_choices, 1)
        self.frequency_aware, self.router_stage, self.routed = False, False, False

    # ---- schedule
    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.frequency_aware = epoch > self.reweight_epoch
        self.router_stage = self.router_epochs > 0 and epoch > epochs - self.router_epochs
        if self.router_stage:
            self.routed = True
            for module in (*self.branches, *self.classifiers):
                module.requires_grad_(False)

    def trains_backbone(self, epoch: int) -> bool:
        return not self.router_stage

    def sampling_weights(self, epoch: int):
        return torch.full((self.num_classes,), 1.0 / self.num_classes) if self.router_stage else None

    # ---- forward
    def _router_logits(self, hidden, expert_logits):
        """(B, K - 1): router k's logit from expert k's feature and the top logits of the first k + 1 experts."""
        cumulative_mean = expert_logits.cumsum(0) / torch.arange(1, self.num_experts + 1,
                                                                device=expert_logits.device)[:, None, None]
        outputs = []
        for k in range(self.num_experts - 1):
            feature = F.relu(self.router_hidden[k](F.normalize(hidden[k], dim=1)))
            top = cumulative_mean[k].topk(self.top_choices, dim=1).values
            outputs.append(self.router_out(torch.cat([top, feature], 1)).squeeze(1))
        return torch.stack(outputs, 1)

    def forward(self, features, labels=None) -> MethodOutput:
        hidden = [branch(features) for branch in self.branches]
        expert_logits = torch.stack([self.scale * clf(h) for clf, h in zip(self.classifiers, hidden)])  # (K, B, C)
        extras = {"expert_logits": expert_logits}
        if self.training and self.router_stage and self.num_experts > 1:
            extras["router_logits"] = self._router_logits([h.detach() for h in hidden], expert_logits.detach())
        if not self.training and self.routed and self.num_experts > 1:
            go_on = torch.sigmoid(self._router_logits(hidden, expert_logits)) > 0.5          # (B, K - 1)
            used = torch.cat([torch.ones_like(go_on[:, :1]), go_on.long().cummin(1).values.bool()], 1)
            extras["experts_used"] = used.sum(1)
            logits = (expert_logits * used.t()[:, :, None]).sum(0) / extras["experts_used"][:, None]
            return MethodOutput(logits, extras)
        return MethodOutput(expert_logits.mean(0), extras)

    # ---- losses
    def diversity(self, expert_logits):
        """(K, B) per-sample diversity terms lambda T_bar^2 KL(softmax(z_bar / T) || softmax(z_k / T))."""
        if self.frequency_aware:
            temperature, mean_temperature = self.class_temperatures[None, :], self.class_temperatures.mean()
        else:
            temperature = mean_temperature = self.base_diversity_temperature
        ensemble = F.softmax(expert_logits.mean(0).detach() / temperature, dim=1)
        return torch.stack([self.diversity_factor * mean_temperature ** 2
                            * per_sample_kl(ensemble, F.log_softmax(z / temperature, dim=1)) for z in expert_logits])

    def per_sample_loss(self, output, labels):
        expert_logits = output.extras["expert_logits"]
        if self.router_stage:
            return expert_logits.new_zeros(labels.shape[0])
        ldam = torch.stack([self.ldam(z / self.scale, labels) for z in expert_logits])        # (K, B)
        return (ldam + self.diversity(expert_logits)).sum(0)

    def extra_loss(self, output, labels):
        if "router_logits" not in output.extras:
            return output.logits.new_zeros(())
        targets = router_targets(output.extras["expert_logits"], labels)
        weight = output.logits.new_tensor([self.pos_weight])
        return F.binary_cross_entropy_with_logits(output.extras["router_logits"], targets, pos_weight=weight)
