"""Inference and test metrics, in memory or streamed; the model's outputs come to the host batch by batch.

`predict` takes a float image tensor (N, C, H, W), an (N, H, W, C) array, or any LabelledDataset; datasets are
read through a DataLoader with their evaluation transform, so evaluating ImageNet-LT holds one batch of images at a
time (the outputs themselves, N x C logits, are what the metrics need).
"""
from __future__ import annotations

import numpy as np
import torch

from ..evaluate import classification_metrics, nmi, recall_at_k
from ..scales import split_by_count
from .devices import autocast, to_device
from .loader import evaluation_batches


def to_tensor_images(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 or [0, 1] float -> float32 (N, C, H, W) in [0, 1]."""
    from ..sample_space import pixels01

    return torch.from_numpy(np.ascontiguousarray(pixels01(images).transpose(0, 3, 1, 2)))


def in_memory(dataset, config) -> bool:
    """Whether `dataset` takes the in-memory fast path: an ImageDataset at its own size without augmentation."""
    from ..data import ImageDataset

    if not isinstance(dataset, ImageDataset) or config.augment != "none":
        return False
    height, width = dataset.images.shape[1:3]
    return config.image_size == 0 or height == width == config.image_size


def transformed(dataset, config, train: bool):
    """`dataset` with the config's training or evaluation transform (semscale.transforms.build_transform)."""
    if config.augment == "none" and config.image_size == 0:
        return dataset.with_transform(None)  # the default: a float tensor in [0, 1] at the stored size
    from ..transforms import build_transform

    size = config.image_size or None  # None: the stored size (augmentations that crop need a size)
    return dataset.with_transform(build_transform(config.augment, size, dataset.channels, train))


def evaluation_source(dataset, config):
    """What `predict` reads for a test set: the in-memory tensor, or the dataset with its evaluation transform."""
    return to_tensor_images(dataset.images) if in_memory(dataset, config) else transformed(dataset, config, False)


def model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(model, images, batch_size: int = 512, amp: str = "off", workers: int = 0,
            channels_last: bool = False, output: str = "outputs") -> np.ndarray:
    """Logits (classification) or embeddings (metric) for all images, in eval mode, as float32 on the host;
    output="features": the 64-d pool features (App. F.2) instead.

    images: a float (N, C, H, W) tensor or a LabelledDataset whose transform gives the model's input."""
    if output not in ("outputs", "features"):
        raise ValueError(f"predict: output must be 'outputs' or 'features', got {output!r}")
    which = 0 if output == "outputs" else 1
    was_training = model.training
    model.eval()
    device = model_device(model)
    outputs = []
    for batch, _ in evaluation_batches(images, batch_size, device, workers):
        batch, _ = to_device(batch, torch.empty(0), device, channels_last)
        with autocast(device, amp):
            outputs.append(model(batch)[which].float().cpu())
    model.train(was_training)
    return torch.cat(outputs).numpy()


def evaluate(model, config, test_images, test_labels, train_counts, criterion=None) -> dict:
    """Test metrics: classification (top-1, per class, head/middle/tail by training count, macro AP) or metric
    learning (Recall@K, NMI). `test_images` may be a LabelledDataset (its labels are used when test_labels is None).
    `criterion`: the training loss; a loss with an inference rule (`adjust_logits`, LADE's PC softmax) applies it
    to the logits before any metric, so pass it whenever the model was trained with such a loss."""
    from ..data import LabelledDataset

    if isinstance(test_images, LabelledDataset):
        test_labels = test_images.labels if test_labels is None else test_labels
        test_images = evaluation_source(test_images, config)
    outputs = predict(model, test_images, amp=config.amp, workers=config.workers if
                      not isinstance(test_images, torch.Tensor) else 0)
    outputs = inference_logits(outputs, criterion)
    labels = np.asarray(test_labels)
    if config.task == "metric":
        return {"recall_at_k": recall_at_k(outputs, labels), "nmi": nmi(outputs, labels, seed=0)}
    return classification_metrics(labels, outputs, split_by_count(train_counts))


def inference_logits(outputs: np.ndarray, criterion=None) -> np.ndarray:
    """The model's outputs as the loss says to read them at test time: `criterion.adjust_logits` when the loss has
    one (LADE: logits - log p_s + log p_t), else unchanged."""
    adjust = getattr(criterion, "adjust_logits", None)
    if adjust is None:
        return outputs
    device = next(iter(criterion.buffers()), torch.empty(0)).device  # the priors live where the loss was trained
    return adjust(torch.from_numpy(outputs).to(device)).float().cpu().numpy()


def train_and_evaluate(config, train_set, test_set, checkpoint=None, progress: bool = True) -> dict:
    """Train on a LabelledDataset, evaluate on another; returns final metrics, history and the pool's last weights."""
    from .trainer import Trainer

    trainer = Trainer(config, train_set, None, train_set.num_classes, checkpoint, progress)
    trainer.fit()
    metrics = evaluate(trainer.network, config, test_set, None, trainer.counts, trainer.criterion)
    metrics["history"] = trainer.history
    metrics["train_counts"] = trainer.counts
    if trainer.pool is not None:
        metrics["pool_weights"] = trainer.pool.weights(config.weighting == "dsb")
    metrics["trainer"] = trainer
    return metrics
