"""Compatibility module: the training engine lives in semscale.engine; these names keep their old import path."""
from .engine import (TrainConfig, Trainer, atomic_torch_save, build_optimizer, build_schedule, epoch_order,
                     evaluate, predict, seed_everything, to_tensor_images, train_and_evaluate)

__all__ = ["TrainConfig", "Trainer", "predict", "evaluate", "train_and_evaluate", "to_tensor_images", "epoch_order",
           "seed_everything", "atomic_torch_save", "build_optimizer", "build_schedule"]
