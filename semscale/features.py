"""Feature space: 64-d average-pooled backbone features (App. F.2) of a model trained on the data.

Models are cached by dataset, training config and the code that trains in SEMSCALE_CACHE/models (the training
checkpoint is the cache: a finished one is reused, an interrupted one resumes).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .data.paths import cache_dir
from .measure import measure
from .train import TrainConfig, Trainer, to_tensor_images


def extract_features(network, images, batch_size: int = 512, config=None) -> np.ndarray:
    """Pool features (N, 64) of every image, model in eval mode, float64 on the host. `images`: an (N, H, W, C)
    array, a float (N, C, H, W) tensor, or any LabelledDataset (streamed with `config`'s evaluation transform)."""
    from .data import LabelledDataset
    from .engine.evaluation import evaluation_source, predict

    if isinstance(images, LabelledDataset):
        images = evaluation_source(images, config or TrainConfig())
    elif not isinstance(images, torch.Tensor):
        images = to_tensor_images(images)
    return predict(network, images, batch_size, output="features").astype(np.float64)


def dataset_fingerprint(dataset) -> str:
    """Content hash: all labels, and every 64th image and the array's shape (in memory) or every file's path and
    every 64th file's size (file datasets, which are not read for this). Equal sets share cached models whatever
    their name."""
    digest = hashlib.sha256(np.ascontiguousarray(dataset.labels).tobytes())
    if hasattr(dataset, "images"):
        digest.update(np.ascontiguousarray(dataset.images[:: max(1, len(dataset.images) // 64)]).tobytes())
        digest.update(str(dataset.images.shape).encode())
        return digest.hexdigest()[:12]
    paths = list(dataset.paths)
    digest.update("\n".join(paths).encode() + getattr(dataset, "mode", "").encode())
    digest.update(str([Path(p).stat().st_size for p in paths[:: max(1, len(paths) // 64)]]).encode())
    return digest.hexdigest()[:12]


# Modules that cannot change what a model learns: the dataset readers (their output is covered by the dataset's
# content fingerprint), the command line, reporting, claim statistics and experiment plumbing.
NOT_TRAINING = ("data/", "cli.py", "report.py", "experiment.py", "stats.py", "__init__.py", "__main__.py",
                "validation.py", "selection.py", "sets.py", "evaluate.py", "regression.py")


def training_code_files() -> list[Path]:
    """Every .py under semscale/ (subpackages included) except NOT_TRAINING, in a fixed order."""
    package = Path(__file__).resolve().parent
    files = sorted(package.rglob("*.py"))
    return [f for f in files if not any(f.relative_to(package).as_posix().startswith(n) for n in NOT_TRAINING)]


def training_code_hash() -> str:
    """Content hash of the code that trains: a cached model is reused only by the code that produced it."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in training_code_files():
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def model_path(train_set, config: TrainConfig) -> Path:
    return cache_dir() / "models" / f"{dataset_fingerprint(train_set)}-{config.key()}-{training_code_hash()}.pt"


def trained(train_set, config: TrainConfig, progress: bool = True, force: bool = False) -> Trainer:
    """A Trainer fitted on train_set with config, from the cache when it is there (force: retrain)."""
    path = model_path(train_set, config)
    if force:
        path.unlink(missing_ok=True)
    trainer = Trainer(config, train_set, None, train_set.num_classes, path, progress)
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
