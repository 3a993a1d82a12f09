"""The Trainer's steps for a `semscale.methods` Method (TrainConfig.method): base.py's contract, wired in.

Per epoch: on_epoch_start first, then the epoch's order from sampling_weights, the backbone frozen or not
(trains_backbone), and a second batch a step from second_sampling_weights. Per batch: the class-weighted per-sample
terms of the method plus its batch-level terms (method_network.method_loss).
"""
from __future__ import annotations

import itertools
import time

import torch

from ..distributed import world
from .devices import autocast, to_device
from .evaluation import transformed
from .loader import EpochBatchSampler, InMemoryBatches, StreamingBatches, derived_seed
from .method_network import MAIN_STREAM, SECOND_STREAM, class_sampled_order, method_loss
from .optim import build_optimizer, build_schedule


class MethodTraining:
    """Mixed into Trainer: everything it does differently when config.method is set."""

    def _method_step(self, images, labels, epoch, second, global_labels=None):
        """base.py's step: output = method(features, labels[, second]); class-weighted per-sample terms + extras."""
        if second is not None:
            second = to_device(*second, self.device, self.channels_last)
        with autocast(self.device, self.config.amp):
            inputs = {} if self.teacher is None else {"teacher_logits": self.teacher(images)}
            self._tell_global_batch(global_labels)
            try:
                output, pooled = self.model(images, labels, second, **inputs)
            finally:
                self._tell_global_batch(None)  # a later call outside a step is one process's own batch
            started = time.perf_counter()
            if self.pool is not None:
                self._pool_update(pooled, labels, epoch, global_labels)
            class_weights = self.weighting.class_weights(epoch)
            self.weighting_seconds += time.perf_counter() - started
            loss = method_loss(self.method, output, labels, class_weights)
        self._backward_and_step(loss)
        # IFL concatenates its second batch into the logits: accuracy counts the first batch's rows.
        return loss.detach(), output.logits[:len(labels)].detach(), labels

    def _tell_global_batch(self, labels: torch.Tensor | None) -> None:
        """The global batch's host labels (and length) for the method and any method it wraps (MBJ's base): memories
        gather with the length, and MBJ keeps its memory's bookkeeping on the host with the labels."""
        for module in self.method.modules():
            if hasattr(module, "global_batch_size"):
                module.global_batch_size, module.global_labels = (None, None) if labels is None else \
                    (len(labels), labels)

    def _method_teacher(self, channels: int, image_size):
        """DiVE's teacher network from its finished checkpoint (method option teacher_checkpoint), or None."""
        path = getattr(self.method, "teacher_checkpoint", "")
        if not path:
            return None
        from .teacher import load_teacher

        return load_teacher(path, self.num_classes, channels, image_size, self.device)

    def _start_method_epoch(self, epoch: int) -> None:
        """The method's hooks, in base.py's order: on_epoch_start first (it sets the stage the others read)."""
        config, method = self.config, self.method
        method.on_epoch_start(epoch, config.epochs)
        weights = method.sampling_weights(epoch)
        self.source.sampler.set_order(None if weights is None else
                                      class_sampled_order(self.labels, weights, config.seed, epoch, MAIN_STREAM))
        frozen = not method.trains_backbone(epoch)
        if frozen != self.backbone_frozen:
            self.set_backbone_frozen(frozen)
        self.network.freeze_backbone(frozen)

    def set_backbone_frozen(self, frozen: bool) -> None:
        """A stage switch (cRT/LWS stage 2, RIDE's router): the optimizer and schedule are rebuilt over what learns
        now, with fresh moments (stage 1's momentum would keep pushing cRT's re-initialised head) and a fresh schedule
        from config.lr (Kang et al.'s release re-trains the classifier with a new schedule). Checkpoints record the
        switch, so a resumed run rebuilds before loading the optimizer state."""
        self.backbone_frozen = frozen
        parameters = list(self.method.parameters()) if frozen else \
            list(self.model.parameters()) + list(self.criterion.parameters())
        self.optimizer = build_optimizer(self.config, parameters)
        self.schedule = build_schedule(self.config, self.optimizer)

    def _second_batches(self, epoch: int):
        """The method's second batch for every step (BBN's reversed sampler, IFL's second environment), or Nones."""
        weights = None if self.method is None else self.method.second_sampling_weights(epoch)
        if weights is None:
            return itertools.repeat(None)
        instance = getattr(self.method, "second_instance_weights", lambda: None)()   # IFL after a milestone
        order = class_sampled_order(self.labels, weights, self.config.seed, epoch, SECOND_STREAM, instance)
        if not isinstance(self.source, InMemoryBatches):
            second = self._second_stream()
            second.sampler.set_order(order)
            return second.batches(epoch)
        sampler = EpochBatchSampler(len(self.labels), self.config.batch_size, self.config.seed, *world())
        sampler.set_epoch(epoch)
        sampler.set_order(order)
        source = self.source
        return ((source.images[i.to(source.images.device)], source.labels[i.to(source.images.device)])
                for i in sampler.rank_indices())

    def _second_stream(self) -> StreamingBatches:
        """The second sampler's own DataLoader over the streamed training set (kept across epochs, like the main
        one); its samples' augmentations are seeded from a stream of their own, so an image drawn by both samplers
        in one epoch gets two different views."""
        if getattr(self, "_second_source", None) is None:
            config = self.config
            sampler = EpochBatchSampler(len(self.labels), config.batch_size, derived_seed(config.seed, SECOND_STREAM),
                                        *world(), seeded=True)
            self._second_source = StreamingBatches(transformed(self.dataset, config, train=True), sampler,
                                                   self.device, config.workers)
        return self._second_source

    def _end_method_epoch(self, epoch: int) -> None:
        """IFL's `end_of_epoch(epoch, labels, p(y_i | x_i))`: the training set's true-class probabilities in dataset
        order, from one inference pass (IFL re-estimates its second environment from them)."""
        if not hasattr(self.method, "end_of_epoch") or not self.method.wants_true_class_probs(epoch):
            return
        from .evaluation import predict

        # Streamed: the training set with its evaluation transform (no random crop), through the DataLoader.
        images = self.source.images if isinstance(self.source, InMemoryBatches) else \
            transformed(self.dataset, self.config, train=False)
        logits = torch.from_numpy(predict(self.network, images, amp=self.config.amp, workers=self.config.workers,
                                          channels_last=self.channels_last))
        probs = torch.softmax(logits.double(), dim=1).gather(1, self.labels[:, None]).squeeze(1)
        self.method.end_of_epoch(epoch, self.labels.numpy(), probs.numpy())
