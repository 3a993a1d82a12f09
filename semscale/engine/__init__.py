"""The training engine (issue 9): devices and mixed precision, streaming data, checkpoints, the Trainer.

    config.py      TrainConfig, hashed into checkpoint and cache keys
    devices.py     device "auto", amp, channels-last, threads and determinism
    loader.py      (seed, epoch)-ordered batches per torchrun rank: in memory or through a DataLoader
    optim.py       optimizer and schedule
    checkpoint.py  atomic per-epoch checkpoints, exact resume
    evaluation.py  predict / evaluate / train_and_evaluate
    trainer.py     Trainer: Alg. 2 with the DSB pool, DDP
    cli_config.py  `semscale train`: every TrainConfig field as an option, YAML configs, the CSV epoch log
"""
from .checkpoint import atomic_torch_save
from .config import TrainConfig
from .evaluation import evaluate, predict, to_tensor_images, train_and_evaluate
from .loader import epoch_order
from .optim import build_optimizer, build_schedule
from .trainer import Trainer, seed_everything

__all__ = ["TrainConfig", "Trainer", "predict", "evaluate", "train_and_evaluate", "to_tensor_images", "epoch_order",
           "seed_everything", "atomic_torch_save", "build_optimizer", "build_schedule"]
