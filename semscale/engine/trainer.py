"""One training loop for classification and metric learning, with the DSB pool, checkpoints and DDP.

Every epoch ends with an atomic checkpoint (model, loss proxies, optimizer, schedule, pool, weighting, history);
a run started again with the same config resumes from it and ends where an uninterrupted run would: the batch
order of each epoch is drawn from (seed, epoch) alone, so nothing depends on where the run stopped.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .distributed import gather_batch, init_from_env, rank_chunk, world
from .evaluate import classification_metrics, nmi, recall_at_k
from .losses import build_loss
from .models import POOL_DIM, build_network
from .pool import FeaturePool
from .scales import split_by_count
from .weighting import build_weighting, weighted_mean


@dataclass
class TrainConfig:
    task: str = "classification"      # classification | metric
    backbone: str = "small_cnn"       # small_cnn or a torchvision name (semscale.models.TORCHVISION_BACKBONES)
    head: str = "linear"              # linear | cosine (LDAM's normalised head)
    width: int = 32                   # small_cnn channels
    loss: str = "ce"                  # ce | focal | ldam | bs | nsm | st
    loss_options: dict = field(default_factory=dict)
    weighting: str = "none"           # none | cb | dsb | dsb1 | cdb
    weighting_options: dict = field(default_factory=dict)
    warmup_epochs: int = 5            # n of the three-stage framework
    alpha: float = 2.0                # W = log2(alpha + W'); 2 on long-tailed data, 1 on balanced
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"           # adam | sgd
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "exp"             # exp (x lr_gamma per epoch) | linear (to 0) | none
    lr_gamma: float = 0.98
    seed: int = 0

    def key(self) -> str:
        """Hash of the full config: checkpoints and cached models are keyed by it."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def to_tensor_images(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 or [0, 1] float -> float32 (N, C, H, W) in [0, 1]."""
    from .sample_space import pixels01

    return torch.from_numpy(np.ascontiguousarray(pixels01(images).transpose(0, 3, 1, 2)))


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_order(num_samples: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def build_optimizer(config: TrainConfig, parameters):
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise ValueError(f"optimizer {config.optimizer!r}: expected 'adam' or 'sgd'")


def build_schedule(config: TrainConfig, optimizer):
    if config.schedule == "exp":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_gamma)
    if config.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: max(0.0, 1.0 - e / config.epochs))
    if config.schedule == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    raise ValueError(f"schedule {config.schedule!r}: expected exp, linear or none")


def atomic_torch_save(payload, path: Path) -> None:
    from .report import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


@torch.no_grad()
def predict(model, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Logits (classification) or embeddings (metric) for all images, in eval mode."""
    was_training = model.training
    model.eval()
    outputs = [model(images[i:i + batch_size])[0] for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(outputs).numpy()


def evaluate(model, config: TrainConfig, test_images, test_labels, train_counts) -> dict:
    outputs = predict(model, test_images)
    labels = np.asarray(test_labels)
    if config.task == "metric":
        return {"recall_at_k": recall_at_k(outputs, labels), "nmi": nmi(outputs, labels, seed=0)}
    return classification_metrics(labels, outputs, split_by_count(train_counts))


class Trainer:
    """Holds the model, loss, optimizer, pool and weighting of one run; `fit` trains with checkpoints."""

    def __init__(self, config: TrainConfig, train_images, train_labels, num_classes: int,
                 checkpoint: str | Path | None = None, progress: bool = True):
        self.config, self.progress = config, progress
        self.distributed = init_from_env()
        self.images = train_images if isinstance(train_images, torch.Tensor) else to_tensor_images(train_images)
        self.labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.long)
        self.num_classes = num_classes
        self.counts = np.bincount(self.labels.numpy(), minlength=num_classes)
        seed_everything(config.seed)
        self.model = build_network(config.backbone, num_classes, self.images.shape[1], config.task, config.head,
                                   config.width)
        dim = POOL_DIM
        self.criterion = build_loss(config.loss, num_classes, self.counts, dim, **config.loss_options)
        if self.distributed:
            self.model = torch.nn.parallel.DistributedDataParallel(self.model)
        self.optimizer = build_optimizer(config, list(self.model.parameters()) + list(self.criterion.parameters()))
        self.schedule = build_schedule(config, self.optimizer)
        needs_pool = config.weighting in ("dsb", "dsb1")
        self.pool = FeaturePool(num_classes, dim, config.warmup_epochs, config.alpha) if needs_pool else None
        self.weighting = build_weighting(config.weighting, num_classes, self.counts, self.pool,
                                         **config.weighting_options)
        self.history: list[dict] = []
        self.epoch = 0
        self.weighting_seconds = 0.0  # pool updates and class weights: the cost of the re-weighting itself
        self.checkpoint = Path(checkpoint) if checkpoint else None
        if self.checkpoint and self.checkpoint.exists():
            self._load()

    @property
    def network(self):
        return self.model.module if self.distributed else self.model

    # ------------------------------------------------------------------ checkpoints

    def _save(self) -> None:
        if self.checkpoint is None or world()[0] != 0:
            return
        atomic_torch_save({"config_key": self.config.key(), "config": asdict(self.config), "epoch": self.epoch,
                           "model": self.network.state_dict(), "criterion": self.criterion.state_dict(),
                           "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                           "pool": self.pool.state_dict() if self.pool else None,
                           "weighting": self.weighting.state_dict(), "history": self.history}, self.checkpoint)

    def _load(self) -> None:
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        if state["config_key"] != self.config.key():
            changed = [k for k, v in asdict(self.config).items() if state["config"].get(k) != v]
            raise ValueError(f"{self.checkpoint}: checkpoint of a different config (differs in {changed}); "
                             "delete it or use another checkpoint path")
        self.network.load_state_dict(state["model"])
        self.criterion.load_state_dict(state["criterion"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if self.pool is not None:
            self.pool.load_state_dict(state["pool"])
        self.weighting.load_state_dict(state["weighting"])
        self.history, self.epoch = state["history"], state["epoch"]

    # ------------------------------------------------------------------ training

    def step(self, global_batch: torch.Tensor, epoch: int):
        """One iteration of Alg. 2 on this rank's share of a global batch of indices: forward, pool update (all
        ranks' features), weighted loss, backward, optimizer step. Returns (loss, detached outputs, labels)."""
        idx = rank_chunk(global_batch)
        x, y = self.images[idx], self.labels[idx]
        outputs, pooled = self.model(x)
        started = time.perf_counter()
        if self.pool is not None:
            all_features, all_labels = gather_batch(pooled, y)
            self.pool.update(all_features.numpy(), all_labels.numpy(), epoch)
        class_weights = self.weighting.class_weights(epoch)
        self.weighting_seconds += time.perf_counter() - started
        per_sample = self.criterion(outputs, y)
        loss = weighted_mean(per_sample, y, class_weights)
        if hasattr(self.criterion, "regularizer"):
            loss = loss + self.criterion.regularizer()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item(), outputs.detach(), y

    def fit(self, evaluate_fn=None) -> list[dict]:
        from tqdm.auto import tqdm

        config = self.config
        rank, _ = world()
        while self.epoch < config.epochs:
            epoch = self.epoch + 1
            order = epoch_order(len(self.labels), config.seed, epoch)
            batches = list(torch.split(order, config.batch_size))
            correct = np.zeros(self.num_classes)
            seen = np.zeros(self.num_classes)
            total_loss, started, self.weighting_seconds = 0.0, time.perf_counter(), 0.0
            self.model.train()
            bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs} {config.loss}+{config.weighting}",
                       disable=not self.progress or rank != 0, leave=False, unit="it")
            for global_batch in bar:
                loss, outputs, y = self.step(global_batch, epoch)
                total_loss += loss
                if config.task == "classification":
                    hits = (outputs.argmax(1) == y).numpy()
                    np.add.at(correct, y.numpy(), hits)
                    np.add.at(seen, y.numpy(), 1)
                bar.set_postfix(loss=f"{loss:.3f}")
            self.schedule.step()
            seconds = time.perf_counter() - started
            record = {"epoch": epoch, "loss": total_loss / len(batches), "seconds": seconds,
                      "iterations_per_second": len(batches) / seconds,
                      "weighting_share": self.weighting_seconds / seconds,
                      "stage": self.pool.stage(epoch) if self.pool else None}
            if config.task == "classification":
                self.weighting.observe_accuracy(np.divide(correct, seen, out=np.zeros_like(correct),
                                                          where=seen > 0))
            if evaluate_fn is not None:
                record.update(evaluate_fn(self))
            self.history.append(record)
            self.epoch = epoch
            self._save()
            if self.progress and rank == 0:
                extra = f" test top1 {record['top1']:.4f}" if "top1" in record else ""
                print(f"epoch {epoch}/{config.epochs} loss {record['loss']:.4f} "
                      f"{record['iterations_per_second']:.1f} it/s{extra}", flush=True)
        return self.history


def train_and_evaluate(config: TrainConfig, train_set, test_set, checkpoint=None, progress: bool = True) -> dict:
    """Train on an ImageDataset, evaluate on another; returns final metrics, history and the pool's last weights."""
    trainer = Trainer(config, train_set.images, train_set.labels, train_set.num_classes, checkpoint, progress)
    trainer.fit()
    test_images = to_tensor_images(test_set.images)
    metrics = evaluate(trainer.network, config, test_images, test_set.labels, trainer.counts)
    metrics["history"] = trainer.history
    metrics["train_counts"] = trainer.counts
    if trainer.pool is not None:
        metrics["pool_weights"] = trainer.pool.weights(config.weighting == "dsb")
    metrics["trainer"] = trainer
    return metrics
