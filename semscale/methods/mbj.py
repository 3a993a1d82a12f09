"""MBJ: Memory-based Jitter (Liu, Li & Sun, AAAI 2022, "Memory-Based Jitter: Improving Visual Recognition on
Long-Tailed Data with Diversity in Memory"), Table 2's MBJ and DSB+MBJ rows.

Mechanism (paper Sec. 3 and its Fig. 3): the model's weights jitter from one iteration to the next, so features of
the same images from historical editions of the model differ ("feature jitter"); collected in a memory they add
within-class diversity, which the tail classes lack. For classification, MBJ stores past batch features in a memory
with a class-specific probability (head classes rarely, tail classes often) and trains the classifier on the batch
features together with features from the memory. For metric learning the paper keeps historical class prototypes
instead ("weight jitter"); this module offers that as `prototype_memory`: past classifier rows of each class are
kept and a sample's logit for class c is the log-sum-exp over c's current and historical prototypes, so the
historical weights jitter the logits.

No official code was found, so these are this module's assumptions (each an option):
  * store probability p_c = (n_min / n_c)^`store_power` (1 for the rarest class, n_min / n_c for the others);
  * `memory_per_class` 32 slots a class, first in first out, filled with detached backbone features;
  * every training step replays `replay` memory features (default: the batch size) drawn uniformly from the filled
    slots (the memory's content is already tail-heavy), drawn before the current batch is stored;
  * the replayed features are classified by the current classifier and pooled with the batch into one cross-entropy
    mean, the memory's terms scaled by `memory_weight` (1);
  * prototype memory (off by default, as the paper uses it for metric learning): every step, each class with
    p_c >= `prototype_threshold` stores its current classifier row (detached) in a ring of `prototype_memory` slots;
  * randomness from the method's own generator (`seed`), so runs repeat;
  * under torchrun every rank stores the global batch and draws one process's replays, replaying its chunk of them,
    so the memory and the draws are those of one process (Method.gathered).

On a GPU the step waits for nothing: which slots are filled and which come next is kept on the host as well (read
from the buffers once, after construction or a load), the store's and the draw's decisions are taken there from the
engine's host labels (Method.global_labels), and the device only copies features into and out of the chosen slots.
So the memory's buffers change by training or by load_state_dict, which renews the host copies; not by hand.

DSB: where the weights go and why. Every term is one feature's cross-entropy, batch or replayed, and a replayed
feature is a (historical) sample of its class, so `per_sample_loss` returns the batch terms then the memory terms,
`loss_labels` their classes, and the DSB weight of each term's class multiplies it: a replayed tail feature counts
as much as a fresh one of its class, which is how DSB+MBJ re-weights the classifier's training set.

MBJ on another method (`base`, Table 2's MBJ+RIDE): MBJ's memory jitters the features another method classifies.
With base="ride" the batch goes through RIDE as usual (its experts, LDAM and diversity terms, router stage) and the
replayed memory features go through the same experts with their own labels, their per-sample RIDE terms (scaled by
`memory_weight`) appended after the batch's; every other hook (schedule, samplers, router loss, prediction) is
RIDE's. The memory is filled as above, from the backbone features RIDE's experts branch from. The prototype memory
is the plain head's and needs base "ce".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..distributed import rank_chunk
from .base import Method, MethodOutput


def store_probabilities(class_counts, power: float = 1.0) -> torch.Tensor:
    """MBJ's class-specific store probability (assumed form): (n_min / n_c)^power, 1 for the rarest class."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64).clamp(min=1)
    return (counts.min() / counts).pow(power).float()


class MBJ(Method):
    name = "mbj"
    needs_counts_for = "its store probabilities favour the tail"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, memory_per_class: int = 32,
                 replay: int | None = None, memory_weight: float = 1.0, store_power: float = 1.0,
                 prototype_memory: int = 0, prototype_threshold: float = 0.5, seed: int = 0, base: str = "ce",
                 base_options: dict | None = None):
        super().__init__(feature_dim, num_classes, class_counts)
        if memory_per_class < 1:
            raise ValueError(f"MBJ: memory_per_class must be at least 1, got {memory_per_class}")
        self.base = None
        if base != "ce" or base_options:
            if base == "mbj" or prototype_memory:
                raise ValueError(f"MBJ: base {base!r} with prototype_memory {prototype_memory}: the prototype memory "
                                 "jitters the plain head (base 'ce'), and MBJ does not wrap itself")
            from .registry import build_method  # the registry imports this module

            self.base = build_method(base, feature_dim, num_classes, class_counts, **(base_options or {}))
            del self.head  # the base method classifies
        self.replay, self.memory_weight = replay, memory_weight
        self.register_buffer("store_probability", store_probabilities(self.class_counts, store_power))
        self.register_buffer("memory", torch.zeros(num_classes, memory_per_class, feature_dim))
        self.register_buffer("filled", torch.zeros(num_classes, memory_per_class, dtype=torch.bool))
        self.register_buffer("next_slot", torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer("prototypes", torch.zeros(num_classes, prototype_memory, feature_dim))
        self.register_buffer("prototype_filled", torch.zeros(num_classes, prototype_memory, dtype=torch.bool))
        self.prototype_threshold, self.prototype_slot = prototype_threshold, 0
        self.generator = torch.Generator().manual_seed(seed)
        self._host = None
        self._host_state()  # host copies of the buffers the step decides from, taken while they are on the host

    def get_extra_state(self):
        """The replay/store generator's state and the prototype ring's slot travel with the state dict, so a
        resumed run draws and stores what an uninterrupted one would."""
        return {"generator": self.generator.get_state(), "prototype_slot": self.prototype_slot}

    def set_extra_state(self, state) -> None:
        self.generator.set_state(state["generator"])
        self.prototype_slot = int(state["prototype_slot"])
        self._host = None  # the loaded buffers replace what the host copies held

    def _host_state(self) -> dict:
        """Host copies of the filled flags (flat), the next slots, the store probabilities and whether a prototype is
        stored, read from the buffers on first use (one wait, after construction or a load), then kept in step."""
        if self._host is None:
            self._host = {"filled": self.filled.flatten().cpu().clone(), "next_slot": self.next_slot.tolist(),
                          "probability": self.store_probability.cpu().clone(),
                          "prototypes": bool(self.prototype_filled.any())}
        return self._host

    # ---- logits
    def classify(self, features):
        """Current classifier logits; with a prototype memory, log-sum-exp over each class's current and stored rows."""
        logits = self.head(features)
        if not self.prototypes.shape[1] or not self._host_state()["prototypes"]:
            return logits
        stored = torch.einsum("bd,cmd->bcm", features, self.prototypes) + self.head.bias[None, :, None]
        stored = stored.masked_fill(~self.prototype_filled[None], float("-inf"))
        return torch.logsumexp(torch.cat([logits[:, :, None], stored], 2), 2)

    def forward(self, features, labels=None) -> MethodOutput:
        if self.base is not None:
            return self._forward_on_base(features, labels)
        logits = self.classify(features)
        if labels is None or not self.training:
            return MethodOutput(logits)
        replayed, replayed_labels = self._draw(self._replay_count(features))
        extras = {"memory_logits": self.classify(replayed),
                  "memory_labels": replayed_labels.to(labels.device, non_blocking=True)}
        self._store(features.detach(), labels)
        self._store_prototypes()
        return MethodOutput(logits, extras)

    def _forward_on_base(self, features, labels):
        output = self.base(features, labels) if labels is not None else self.base(features)
        if labels is None or not self.training:
            return output
        replayed, replayed_labels = self._draw(self._replay_count(features))
        if len(replayed_labels):
            replayed_labels = replayed_labels.to(labels.device, non_blocking=True)
            output.extras["memory_output"] = self.base(replayed, replayed_labels)
            output.extras["memory_labels"] = replayed_labels
        self._store(features.detach(), labels)
        return output

    # ---- memory
    def _replay_count(self, features) -> int:
        """How many memory features one process would replay this step (under torchrun each rank replays its share)."""
        return self.replay or self.global_batch_size or features.shape[0]

    def _draw(self, count):
        """Replayed (features on the device, their labels on the host), uniformly over the filled slots."""
        slots = self._host_state()["filled"].nonzero().squeeze(1)
        if len(slots) == 0:
            return self.memory.new_zeros(0, self.feature_dim), torch.zeros(0, dtype=torch.long)
        # every rank draws the same `count` picks (the same generator, the same memory) and replays its chunk of them
        picks = slots[rank_chunk(torch.randint(len(slots), (count,), generator=self.generator))]
        rows = self.memory.flatten(0, 1)[picks.to(self.memory.device, non_blocking=True)]
        return rows, picks // self.memory.shape[1]

    @torch.no_grad()
    def _store(self, features, labels):
        """Each kept feature goes to its class's next slot, first in first out, as a loop over the batch would."""
        features, labels = self.gathered(features, labels)  # every rank stores the global batch, as one process does
        host, depth = self._host_state(), self.memory.shape[1]
        host_labels = self.labels_on_host(labels)
        keep = torch.rand(len(host_labels), generator=self.generator) < host["probability"][host_labels]
        written = {}  # flat slot -> batch row; a later row of the same slot replaces an earlier one
        next_slot = host["next_slot"]
        for row, label in zip(keep.nonzero().squeeze(1).tolist(), host_labels[keep].tolist()):
            written[label * depth + next_slot[label]] = row
            next_slot[label] = (next_slot[label] + 1) % depth
        if not written:
            return
        slots, rows = torch.tensor(list(written)), torch.tensor(list(written.values()))
        host["filled"][slots] = True
        device = self.memory.device
        slots, rows = slots.to(device, non_blocking=True), rows.to(device, non_blocking=True)
        self.memory.view(-1, self.feature_dim).index_copy_(0, slots, features[rows].to(self.memory.dtype))
        self.filled.view(-1)[slots] = True
        self.next_slot.copy_(torch.tensor(next_slot), non_blocking=True)

    @torch.no_grad()
    def _store_prototypes(self):
        if self.prototypes.shape[1] == 0:
            return
        host, slot = self._host_state(), self.prototype_slot
        tail = host["probability"] >= self.prototype_threshold
        if tail.any():  # decided on the host, so the device is never asked which rows
            written = torch.zeros(self.prototypes.shape[:2], dtype=torch.bool)
            written[tail, slot] = True
            written = written.to(self.prototypes.device, non_blocking=True)
            # Out of place: this step's logits were computed from the ring as it was, and their backward pass needs
            # it (written in place, the next backward failed: "modified by an inplace operation").
            self.prototypes = torch.where(written[..., None], self.head.weight.detach()[:, None], self.prototypes)
            self.prototype_filled |= written
            host["prototypes"] = True
        self.prototype_slot = (slot + 1) % self.prototypes.shape[1]

    # ---- loss
    def per_sample_loss(self, output, labels):
        if self.base is not None:
            terms = self.base.per_sample_loss(output, labels)
            if "memory_output" not in output.extras:
                return terms
            memory = self.base.per_sample_loss(output.extras["memory_output"], output.extras["memory_labels"])
            return torch.cat([terms, self.memory_weight * memory])
        batch = F.cross_entropy(output.logits, labels, reduction="none")
        if "memory_logits" not in output.extras:
            return batch
        memory = F.cross_entropy(output.extras["memory_logits"], output.extras["memory_labels"], reduction="none")
        return torch.cat([batch, self.memory_weight * memory])

    def loss_labels(self, output, labels):
        own = labels if self.base is None else self.base.loss_labels(output, labels)
        if "memory_labels" not in output.extras:
            return own
        replayed = output.extras["memory_labels"] if self.base is None else \
            self.base.loss_labels(output.extras["memory_output"], output.extras["memory_labels"])
        return torch.cat([own, replayed])

    # ---- everything else is the base method's, when there is one
    def extra_loss(self, output, labels):
        return super().extra_loss(output, labels) if self.base is None else self.base.extra_loss(output, labels)

    def predict(self, output):
        return output.logits if self.base is None else self.base.predict(output)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        if self.base is not None:
            self.base.on_epoch_start(epoch, epochs)

    def sampling_weights(self, epoch: int):
        return None if self.base is None else self.base.sampling_weights(epoch)

    def trains_backbone(self, epoch: int) -> bool:
        return True if self.base is None else self.base.trains_backbone(epoch)
