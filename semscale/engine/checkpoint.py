"""Checkpoints: everything a run needs to continue as if it had never stopped, written atomically every epoch.

Saved: model, loss parameters (proxies), optimizer, schedule, fp16 GradScaler, pool, weighting and history. No
random-generator state is needed: every draw of an epoch is seeded from (seed, epoch, ...) when the epoch starts.
Tensors are loaded onto the CPU and copied into the run's own (device) modules, so a checkpoint written on a GPU
resumes on a CPU and the other way round.
"""
from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path

import torch


def atomic_torch_save(payload, path: Path) -> None:
    from ..report import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def save_checkpoint(trainer, path: Path) -> None:
    atomic_torch_save({"config_key": trainer.config.key(), "config": asdict(trainer.config), "epoch": trainer.epoch,
                       "model": trainer.network.state_dict(), "criterion": trainer.criterion.state_dict(),
                       "optimizer": trainer.optimizer.state_dict(), "schedule": trainer.schedule.state_dict(),
                       "scaler": trainer.scaler.state_dict() if trainer.scaler else None,
                       "pool": trainer.pool.state_dict() if trainer.pool else None,
                       "weighting": trainer.weighting.state_dict(), "history": trainer.history,
                       "backbone_frozen": trainer.backbone_frozen}, path)


def load_checkpoint(trainer, path: Path) -> None:
    """Restore `trainer` from `path`; a checkpoint of another config is refused, naming the fields that differ."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["config_key"] != trainer.config.key():
        changed = {k: (state["config"].get(k, v), v) for k, v in asdict(trainer.config).items()
                   if state["config"].get(k, v) != v}
        what = ", ".join(f"{k}: {old!r} there, {new!r} here" for k, (old, new) in changed.items())
        # Not even epochs may change: the learning-rate schedule and the DSB stages depend on them.
        raise ValueError(f"{path}: checkpoint of a different config (differs in {list(changed)}: {what}); "
                         "a run resumes only with its own config: delete it or use another checkpoint path")
    trainer.network.load_state_dict(state["model"])
    trainer.criterion.load_state_dict(state["criterion"])
    if state.get("backbone_frozen"):  # a method's second stage: its optimizer holds the method's parameters only
        trainer.set_backbone_frozen(True)
    trainer.optimizer.load_state_dict(state["optimizer"])  # moves the moments onto the parameters' device
    trainer.schedule.load_state_dict(state["schedule"])
    if trainer.scaler is not None and state.get("scaler"):
        trainer.scaler.load_state_dict(state["scaler"])
    if trainer.pool is not None:
        trainer.pool.load_state_dict(state["pool"])
    trainer.weighting.load_state_dict(state["weighting"])
    trainer.history, trainer.epoch = state["history"], state["epoch"]
