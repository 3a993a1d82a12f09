"""The training engine (issue 9): devices and mixed precision, streaming data, checkpoints, the Trainer.

    config.py      TrainConfig, hashed into checkpoint and cache keys
    devices.py     device "auto", amp, channels-last, threads and determinism
    loader.py      (seed, epoch)-ordered batches per torchrun rank: in memory or through a DataLoader
    optim.py       optimizer and schedule
    checkpoint.py  atomic per-epoch checkpoints, exact resume
    evaluation.py  predict / evaluate / train_and_evaluate
    trainer.py     Trainer: Alg. 2 with the DSB pool, DDP
    method_network.py  TrainConfig.method: backbone + a semscale.methods Method, per-class samplers
    method_training.py the Trainer's method hooks (stages, second batches, frozen backbone)
    cli_config.py  `semscale train`: every TrainConfig field as an option, YAML configs, the CSV epoch log

Names are imported lazily, so that `semscale --help` (which reads cli_config) does not import torch.
"""
import importlib

EXPORTS = {"TrainConfig": "config", "Trainer": "trainer", "seed_everything": "trainer", "predict": "evaluation",
           "evaluate": "evaluation", "train_and_evaluate": "evaluation", "to_tensor_images": "evaluation",
           "epoch_order": "loader", "atomic_torch_save": "checkpoint", "build_optimizer": "optim",
           "build_schedule": "optim"}
__all__ = list(EXPORTS)


def __getattr__(name):
    if name not in EXPORTS:
        raise AttributeError(f"module 'semscale.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{EXPORTS[name]}", __name__), name)
