"""Optimizer and learning-rate schedule of a TrainConfig (the schedule steps once an epoch)."""
from __future__ import annotations

import torch


def build_optimizer(config, parameters):
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise ValueError(f"optimizer {config.optimizer!r}: expected 'adam' or 'sgd'")


def build_schedule(config, optimizer):
    if config.schedule == "exp":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_gamma)
    if config.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: max(0.0, 1.0 - e / config.epochs))
    if config.schedule == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    raise ValueError(f"schedule {config.schedule!r}: expected exp, linear or none")
