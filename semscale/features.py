"""Feature space: 64-d average-pooled backbone features (App. F.2) of a model trained on the data.

Models are cached by dataset and training config in SEMSCALE_CACHE/models (the training checkpoint is the cache:
a finished one is reused, an interrupted one resumes).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .data.paths import cache_dir
from .measure import measure
from .train import TrainConfig, Trainer, to_tensor_images


@torch.no_grad()
def extract_features(network, images, batch_size: int = 512) -> np.ndarray:
    """Pool features (B, 64) for every image, model in eval mode."""
    tensors = images if isinstance(images, torch.Tensor) else to_tensor_images(images)
    was_training = network.training
    network.eval()
    out = [network(tensors[i:i + batch_size])[1] for i in range(0, len(tensors), batch_size)]
    network.train(was_training)
    return torch.cat(out).double().numpy()


def dataset_fingerprint(dataset) -> str:
    """Content hash (all labels, every 64th image, the size): equal sets share cached models whatever their name."""
    digest = hashlib.sha256(np.ascontiguousarray(dataset.labels).tobytes())
    digest.update(np.ascontiguousarray(dataset.images[:: max(1, len(dataset.images) // 64)]).tobytes())
    digest.update(str(dataset.images.shape).encode())
    return digest.hexdigest()[:12]


def trained(train_set, config: TrainConfig, progress: bool = True, force: bool = False) -> Trainer:
    """A Trainer fitted on train_set with config, from the cache when it is there (force: retrain)."""
    path = cache_dir() / "models" / f"{dataset_fingerprint(train_set)}-{config.key()}.pt"
    if force:
        path.unlink(missing_ok=True)
    trainer = Trainer(config, train_set.images, train_set.labels, train_set.num_classes, path, progress)
    trainer.fit()
    return trainer


def trained_feature_table(dataset, args):
    """CLI helper: train the small CNN with cross-entropy on the training split, measure the requested split."""
    from .data import load_dataset

    if args.split == "train" or Path(args.target).is_dir():
        train_set = dataset
    else:
        train_set = load_dataset(args.target, "train", root=args.data_dir, download=not args.no_download)
    config = TrainConfig(epochs=args.epochs, seed=args.seed, alpha=args.alpha)
    network = trained(train_set, config).network
    features = extract_features(network, dataset.images)
    return measure(features, dataset.labels, dataset.num_classes, dataset.classes, alpha=args.alpha,
                   scale=args.scale, beta=args.beta, name=dataset.name, space="feature")
