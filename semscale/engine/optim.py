"""Optimizer and learning-rate schedule of a TrainConfig (the schedule steps once an epoch).

The factor applied in epoch e + 1 (e = 0, 1, ... epochs already ended), over config.lr:
  exp     lr_gamma^e
  linear  max(0, 1 - e / epochs)
  step    lr_gamma^(number of lr_milestones <= e)          (torch's MultiStepLR)
  cosine  (1 + cos(pi e / epochs)) / 2                      (torch's CosineAnnealingLR to 0, one cycle)
  none    1
"""
from __future__ import annotations

import math

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
    if config.schedule == "step":
        milestones = list(config.lr_milestones)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda e: config.lr_gamma ** sum(e >= milestone for milestone in milestones))
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 0.5 * (1.0 + math.cos(math.pi * e / config.epochs)))
    if config.schedule == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0)
    raise ValueError(f"schedule {config.schedule!r}: expected exp, linear, step, cosine or none")
