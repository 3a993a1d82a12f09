"""One training loop for classification and metric learning, with the DSB pool, checkpoints and DDP (Alg. 2).

Every epoch ends with an atomic checkpoint (checkpoint.py); a run started again with the same config resumes from
it and ends where an uninterrupted run would: the batch order, each sample's augmentation, each batch's MixUp /
CutMix draw and the global generator (dropout) are all seeded from (seed, epoch, ...) when the epoch starts.

Model, loss parameters, batches and the DSB pool live on the device (devices.py); the host receives, once an epoch,
the summed loss and per-class hit counts (and the class weights, which semscale.weighting reads as numpy).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..distributed import gather_batch, init_from_env, rank_chunk, world
from ..losses import build_loss
from ..models import POOL_DIM, build_network
from ..device_pool import training_pool
from ..weighting import build_weighting, weighted_mean
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .devices import (autocast, check_amp, configure_runtime, grad_scaler, resolve_device, to_device,
                      use_channels_last)
from .evaluation import in_memory, to_tensor_images, transformed
from .loader import EpochBatchSampler, InMemoryBatches, StreamingBatches, derived_seed
from .method_network import MethodNetwork
from .method_training import MethodTraining
from .optim import build_optimizer, build_schedule


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def network_options(config: TrainConfig, image_size) -> dict:
    """build_network's pretrained weights and stem; the input size lets stem 'auto' pick the CIFAR stem at 32 x 32."""
    return {"pretrained": config.pretrained or None, "stem": config.stem, "image_size": image_size}


class Trainer(MethodTraining):
    """Holds the model, loss, optimizer, pool and weighting of one run; `fit` trains with checkpoints.

    Trainer(config, images, labels, num_classes, ...) trains on in-memory images (N, H, W, C) or a float tensor
    (N, C, H, W); Trainer(config, dataset) on any LabelledDataset (labels and num_classes are then read from it).
    """

    def __init__(self, config: TrainConfig, train_images, train_labels=None, num_classes: int | None = None,
                 checkpoint: str | Path | None = None, progress: bool = True):
        self.config, self.progress = config, progress
        self.device = resolve_device(config.device)  # before the process group: NCCL binds the current device
        self.distributed = init_from_env("nccl" if self.device.type == "cuda" else "gloo")
        configure_runtime(self.device, config.deterministic, config.threads)
        check_amp(config.amp, self.device)
        rank, size = world()
        channels, image_size = self._load_source(train_images, train_labels, num_classes, rank, size)
        self.counts = np.bincount(self.labels.numpy(), minlength=self.num_classes)
        seed_everything(config.seed)
        network = build_network(config.backbone, self.num_classes, channels, config.task, config.head,
                                config.width, embedding_dim=config.embedding_dim,
                                **network_options(config, image_size))
        self.method, self.backbone_frozen = None, False
        if config.method:  # the method replaces the head (and the loss): method_network.py
            from ..methods import build_method

            self.method = build_method(config.method, network.backbone.out_features, self.num_classes, self.counts,
                                       **config.method_options)
            network = MethodNetwork(network.backbone, self.method)
        self.teacher = self._method_teacher(channels, image_size) if self.method is not None else None
        self.channels_last = use_channels_last(config.channels_last, self.device, config.amp)
        network = network.to(self.device, memory_format=torch.channels_last if self.channels_last
                             else torch.preserve_format)
        self.criterion = build_loss(config.loss, self.num_classes, self.counts, config.embedding_dim,
                                    **config.loss_options).to(self.device)
        self.model = self._distribute(network) if self.distributed else network
        self.optimizer = build_optimizer(config, list(self.model.parameters()) + list(self.criterion.parameters()))
        self.schedule = build_schedule(config, self.optimizer)
        self.scaler = grad_scaler(self.device, config.amp)
        needs_pool = config.weighting in ("dsb", "dsb1")
        # On a GPU the pool (features, float64 moments, log-determinants) lives there too, and its update reads
        # nothing back (device_pool.py): no host round trip, no wait for the forward pass.
        self.pool = training_pool(self.num_classes, POOL_DIM, config.warmup_epochs, config.alpha,
                                  device=self.device) if needs_pool else None
        self.weighting = build_weighting(config.weighting, self.num_classes, self.counts, self.pool,
                                         **config.weighting_options)
        self.mixer = self._mixer() if config.mix != "none" else None
        self.history: list[dict] = []
        self.epoch = 0
        self.weighting_seconds = 0.0  # pool updates and class weights: the cost of the re-weighting itself
        self.checkpoint = Path(checkpoint) if checkpoint else None
        if self.checkpoint and self.checkpoint.exists():
            load_checkpoint(self, self.checkpoint)

    # ------------------------------------------------------------------ set-up

    def _load_source(self, train_images, train_labels, num_classes, rank, size) -> int:
        """Set labels, num_classes and the batch source; returns (image channels, input size or None if unknown)."""
        from ..data import LabelledDataset

        config = self.config
        self.images = None  # the in-memory tensor, when that path is taken
        self.dataset = None  # the streamed LabelledDataset, when that path is taken (a method's second sampler)
        if isinstance(train_images, LabelledDataset):
            dataset = train_images
            self.num_classes = num_classes or dataset.num_classes
            self.labels = torch.as_tensor(dataset.labels, dtype=torch.long)
            if in_memory(dataset, config):
                train_images = dataset.images
            else:
                self.dataset = dataset
                sampler = EpochBatchSampler(len(dataset), config.batch_size, config.seed, rank, size, seeded=True)
                self.source = StreamingBatches(transformed(dataset, config, train=True), sampler, self.device,
                                               config.workers)
                return dataset.channels, config.image_size or None
        else:
            if train_labels is None or num_classes is None:
                raise ValueError("Trainer: pass labels and num_classes with an image array, or a LabelledDataset")
            self.labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.long)
            self.num_classes = num_classes
        self.images = train_images if isinstance(train_images, torch.Tensor) else to_tensor_images(train_images)
        sampler = EpochBatchSampler(len(self.labels), config.batch_size, config.seed, rank, size)
        self.source = InMemoryBatches(self.images, self.labels, sampler, self.device)
        self.images = self.source.images  # on a GPU, the device copy: trainer.model(trainer.images[i]) just works
        return self.images.shape[1], tuple(self.images.shape[2:4])

    def _distribute(self, network):
        """DDP over torchrun's ranks (optionally with SyncBatchNorm), on this rank's GPU when there is one."""
        if self.config.sync_bn:
            if self.device.type != "cuda":
                raise ValueError("TrainConfig.sync_bn: SyncBatchNorm runs on CUDA devices only; turn it off on CPUs")
            network = torch.nn.SyncBatchNorm.convert_sync_batchnorm(network)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # A method leaves some of its parameters without a gradient in some stages (LWS's scales in stage 1, RIDE's
        # router before its stage, the backbone in a frozen stage): DDP must be told to expect that.
        return torch.nn.parallel.DistributedDataParallel(network, device_ids=device_ids,
                                                         find_unused_parameters=self.method is not None)

    def _mixer(self):
        from ..transforms import BatchMixer

        return BatchMixer(self.config.mix, self.config.mix_alpha, self.num_classes)

    @property
    def network(self):
        return self.model.module if self.distributed else self.model

    # ------------------------------------------------------------------ training

    def _pool_update(self, pooled: torch.Tensor, labels: torch.Tensor, epoch: int, global_labels=None) -> None:
        global_size = None if global_labels is None else len(global_labels)  # None: the ranks exchange their sizes
        features, all_labels = gather_batch(pooled.detach().float(), labels, global_size)
        self.pool.update(features, all_labels, epoch)

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, epoch: int, step: int = 0, second=None,
                   global_labels: torch.Tensor | None = None):
        """One iteration of Alg. 2 on this rank's share of a global batch: forward, pool update (all ranks' features),
        class weights, weighted loss, backward, optimizer step; returns the detached loss and outputs and the labels
        accuracy counts against, on the device. `second`: a method's second batch (images, labels), e.g. BBN's.
        `global_labels`: every rank's labels of the global batch, on the host: no size exchange, no read-back."""
        images, labels = to_device(images, labels, self.device, self.channels_last)
        if self.method is not None:
            return self._method_step(images, labels, epoch, second, global_labels)
        if self.mixer is not None:
            # Drawn on the host whatever the device: lam and CutMix's box are host numbers, and drawing them on a GPU
            # would make the host wait for the device every step (the same draws as before on a CPU run).
            generator = torch.Generator().manual_seed(derived_seed(self.config.seed, epoch, step, world()[0], 1))
            images, labels_a, labels_b, lam = self.mixer(images, labels, generator)
            # The pool stores a mixed image under its majority class: the label holding the larger share.
            labels = labels_a if lam >= 0.5 else labels_b
        with autocast(self.device, self.config.amp):
            outputs, pooled = self.model(images)
            started = time.perf_counter()
            if self.pool is not None:
                self._pool_update(pooled, labels, epoch, global_labels)
            class_weights = self.weighting.class_weights(epoch)
            self.weighting_seconds += time.perf_counter() - started
            if self.mixer is not None:
                from ..weighting import mixed_weighted_mean

                loss = mixed_weighted_mean(self.criterion(outputs, labels_a), self.criterion(outputs, labels_b),
                                           labels_a, labels_b, lam, class_weights)
            else:
                loss = weighted_mean(self.criterion(outputs, labels), labels, class_weights)
            if hasattr(self.criterion, "regularizer"):
                loss = loss + self.criterion.regularizer()
        self._backward_and_step(loss)
        return loss.detach(), outputs.detach(), labels

    def _backward_and_step(self, loss) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if self.distributed:
            self._average_loss_gradients()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    def _average_loss_gradients(self) -> None:
        """The loss's own parameters (metric-learning proxies) sit outside DDP: average their gradients over the
        ranks as DDP does for the model's, so every rank keeps the same proxies."""
        import torch.distributed as dist

        size = world()[1]
        for parameter in self.criterion.parameters():
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad)
                parameter.grad /= size

    def step(self, global_batch: torch.Tensor, epoch: int):
        """train_step on this rank's chunk of a global batch of indices (in-memory path; kept for bench_dsb)."""
        idx = rank_chunk(global_batch).to(self.source.images.device)
        return self.train_step(self.source.images[idx], self.source.labels[idx], epoch,
                               global_labels=self.labels[global_batch])

    def fit(self, evaluate_fn=None, on_epoch=None) -> list[dict]:
        """Train to config.epochs; after each epoch evaluate_fn(trainer) -> dict joins the history record, the
        checkpoint is written and on_epoch(trainer, record) runs (rank 0 only)."""
        from tqdm.auto import tqdm

        config = self.config
        rank, size = world()
        self.model.train()
        while self.epoch < config.epochs:
            epoch = self.epoch + 1
            torch.manual_seed(derived_seed(config.seed, epoch))  # dropout and other global draws of this epoch
            total_loss = torch.zeros((), dtype=torch.float64, device=self.device)
            correct = torch.zeros(self.num_classes, dtype=torch.long, device=self.device)
            seen = torch.zeros_like(correct)
            lr = self.optimizer.param_groups[0]["lr"]
            started, self.weighting_seconds = time.perf_counter(), 0.0
            self.model.train()
            if self.method is not None:
                self._start_method_epoch(epoch)
            # closed on an error too, so that the error is printed on a line of its own
            with tqdm(total=self.source.sampler.samples_this_rank(), unit="img", unit_scale=True, leave=False,
                      desc=f"epoch {epoch}/{config.epochs} {config.method or config.loss}+{config.weighting}",
                      disable=not self.progress or rank != 0) as bar:
                global_labels = (self.labels[batch] for batch in self.source.sampler.global_batches(epoch))
                batches = zip(self.source.batches(epoch), self._second_batches(epoch), global_labels)
                for step, ((images, labels), second, global_labels) in enumerate(batches):
                    loss, outputs, labels = self.train_step(images, labels, epoch, step, second, global_labels)
                    total_loss += loss.double()
                    if config.task == "classification":
                        tally(correct, seen, outputs, labels)
                    bar.update(len(labels))
                    if step % 20 == 0 and bar.n:  # a device sync: not every step
                        bar.set_postfix(loss=f"{loss.item():.3f}")
            self.schedule.step()
            batches = len(self.source)
            summed_loss = total_loss.item()  # waits for the device: the epoch's time includes its queued kernels
            seconds = time.perf_counter() - started
            record = {"epoch": epoch, "loss": summed_loss / batches, "lr": lr, "seconds": seconds,
                      "iterations_per_second": batches / seconds,
                      "images_per_second": len(self.labels) / seconds,
                      "weighting_share": self.weighting_seconds / seconds,
                      "stage": self.pool.stage(epoch) if self.pool else None}
            if config.task == "classification":
                self.weighting.observe_accuracy(self._accuracy(correct, seen, size))
            if self.method is not None:
                self._end_method_epoch(epoch)
            if evaluate_fn is not None:
                record.update(evaluate_fn(self))
            self.history.append(record)
            self.epoch = epoch
            if self.checkpoint is not None and rank == 0:
                save_checkpoint(self, self.checkpoint)
            if rank == 0 and on_epoch is not None:
                on_epoch(self, record)
            if self.progress and rank == 0:
                extra = f" test top1 {record['top1']:.4f}" if "top1" in record else ""
                print(f"epoch {epoch}/{config.epochs} loss {record['loss']:.4f} "
                      f"{record['iterations_per_second']:.1f} it/s {record['images_per_second']:.0f} img/s{extra}",
                      flush=True)
        return self.history

    def _accuracy(self, correct: torch.Tensor, seen: torch.Tensor, size: int) -> np.ndarray:
        """Per-class training accuracy of the epoch over every rank's samples (so CDB weights agree across ranks)."""
        if size > 1:
            import torch.distributed as dist

            counts = torch.stack([correct, seen])
            dist.all_reduce(counts)
            correct, seen = counts
        correct, seen = correct.cpu().numpy().astype(float), seen.cpu().numpy().astype(float)
        return np.divide(correct, seen, out=np.zeros_like(correct), where=seen > 0)


def tally(correct: torch.Tensor, seen: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor) -> None:
    """Add a batch's per-class hits and samples in place, with shapes fixed by C: bincount and a boolean mask would
    each make the host read the labels back (their maximum, the mask's size), and on a GPU wait for the step."""
    seen.index_add_(0, labels, torch.ones_like(labels))
    correct.index_add_(0, labels, (outputs.argmax(1) == labels).to(correct.dtype))
