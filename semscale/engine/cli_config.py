"""`semscale train`'s view of TrainConfig: one option per field, YAML config files, the per-epoch CSV log.

Options are generated from the dataclass, so a new field is reachable from the command line without touching the
CLI. Precedence: TrainConfig defaults < `--config FILE` (YAML mapping of field names) < options given explicitly.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import asdict, fields
from pathlib import Path

from .config import CHOICES, TrainConfig, defaults_of

HELP = {
    "task": "classification or metric (deep metric learning)", "backbone": "small_cnn or a torchvision name "
    "(resnet18, resnext50_32x4d, ...)", "head": "linear or cosine (LDAM's normalised head; default cosine with "
    "--loss ldam)", "width": "small_cnn channels", "loss": "base loss X of DSB-X",
    "loss_options": "the loss's keyword arguments (JSON or YAML mapping)",
    "weighting": "class weighting: dsb = DSB-X, dsb1 = DSB-1 (no interference), cb, cdb",
    "weighting_options": "the weighting's keyword arguments (JSON or YAML mapping)",
    "warmup_epochs": "n of the three-stage framework (re-weighting from epoch n + 1)", "alpha": "W = log2(alpha + W')",
    "epochs": "training epochs", "batch_size": "the global batch (split across torchrun ranks)",
    "optimizer": "adam or sgd", "lr": "learning rate", "momentum": "SGD momentum", "weight_decay": "weight decay",
    "schedule": "exp (x lr_gamma per epoch), linear (to 0), step (x lr_gamma at each of lr_milestones), cosine (to 0) or none",
    "lr_gamma": "factor of the exp schedule (per epoch) or the step schedule (per milestone)",
    "lr_milestones": "epochs after which the step schedule multiplies lr by lr_gamma, e.g. [50, 100]",
    "seed": "seed of initialisation, order, augmentation and mixing", "device": "auto (CUDA when present), cpu, "
    "cuda or cuda:N", "amp": "mixed precision: off, bf16 or fp16 (CUDA, with loss scaling)",
    "workers": "DataLoader processes for file datasets (-1: min(8, CPUs - 1))", "channels_last":
    "channels-last memory format: auto (CUDA under amp), on, off", "sync_bn": "SyncBatchNorm across ranks (CUDA)",
    "deterministic": "deterministic algorithms, no cudnn autotuning", "threads": "torch CPU threads (0: "
    "SEMSCALE_THREADS or torch's default)", "augment": "none, cifar (crop + flip) or imagenet (RandomResizedCrop + "
    "flip)", "mix": "none, mixup, cutmix or mixup_cutmix", "mix_alpha": "Beta(alpha, alpha) of the mixing coefficient",
    "image_size": "input size (0: the dataset's own; file datasets need one, 224 for ImageNet-scale)",
    "pretrained": "'' (random init), imagenet, or a local weights file", "stem": "auto, cifar or imagenet stem",
    "method": "a long-tailed method of semscale.methods replacing the head and loss (bbn, ride, paco, crt, ...)",
    "method_options": "the method's keyword arguments (JSON or YAML mapping)",
    "embedding_dim": "embedding width of task metric (64 or 512; the DSB pool keeps it pooled to 64)"}


def parse_bool(text: str) -> bool:
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_mapping(text: str) -> dict:
    import yaml

    value = yaml.safe_load(text)  # JSON is YAML too
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a mapping such as '{{gamma: 2}}', got {text!r}")
    return value


def parse_list(text: str) -> list:
    """A YAML / JSON list ('[50, 100]') or comma-separated values ('50,100')."""
    import yaml

    value = yaml.safe_load(text if text.strip().startswith("[") else f"[{text}]")
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError(f"expected a list such as '[50, 100]' or '50,100', got {text!r}")
    return value


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One --option per TrainConfig field (default None: 'not given', so a --config file's value stands)."""
    group = parser.add_argument_group("training configuration (TrainConfig fields)")
    defaults = defaults_of()
    kinds = {"int": int, "float": float, "str": str, "bool": parse_bool, "dict": parse_mapping, "list": parse_list}
    for item in fields(TrainConfig):
        kind = item.type if isinstance(item.type, str) else item.type.__name__
        option = "--" + item.name.replace("_", "-")
        group.add_argument(option, dest=item.name, type=kinds[kind], default=None, choices=CHOICES.get(item.name),
                           metavar=None if item.name in CHOICES else kind.upper(),
                           help=f"{HELP.get(item.name, item.name)} (default: {defaults[item.name]!r})")
    group.add_argument("--config", default=None, help="YAML file of TrainConfig fields; options given here override "
                       "it")


def load_config_file(path) -> dict:
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"--config {path}: no such file") from None
    except yaml.YAMLError as error:
        raise ValueError(f"--config {path}: not valid YAML ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected a mapping of TrainConfig fields, got {type(values).__name__}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"--config {path}: unknown field(s) {unknown}; TrainConfig has {sorted(known)}")
    return values


def resolve_config(args) -> TrainConfig:
    """Defaults, then the --config file, then explicit options; LDAM gets its cosine head unless a head is given."""
    values = load_config_file(args.config) if args.config else {}
    values.update({f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None})
    if "head" not in values and values.get("loss") == "ldam":
        values["head"] = "cosine"
    try:
        return TrainConfig(**values)
    except TypeError as error:  # a YAML value of the wrong kind
        raise ValueError(f"training configuration: {error}") from None


def config_text(config: TrainConfig) -> str:
    """The resolved config as YAML (what --config reads back)."""
    import yaml

    return yaml.safe_dump(asdict(config), sort_keys=False)


def scalar_metrics(metrics: dict) -> dict:
    """The test metrics a CSV row holds: top1, head/middle/tail, macro_ap; recall@K and nmi for metric learning."""
    row = {k: float(metrics[k]) for k in ("top1", "head", "middle", "tail", "macro_ap", "nmi") if k in metrics}
    for k, value in metrics.get("recall_at_k", {}).items():
        row[f"recall@{k}"] = float(value)
    return row


EPOCH_COLUMNS = ["epoch", "loss", "lr", "seconds", "iterations_per_second", "images_per_second", "weighting_share",
                 "stage"]


class EpochLog:
    """on_epoch callback: rewrites `path` (atomically) with one CSV row per epoch of the trainer's history, so a
    resumed run's log holds the epochs before the interruption too."""

    def __init__(self, path):
        self.path = Path(path)

    def __call__(self, trainer, record) -> None:
        from ..report import atomic_write_text, csv_text

        extra = [k for r in trainer.history for k in r if k not in EPOCH_COLUMNS]
        columns = EPOCH_COLUMNS + list(dict.fromkeys(extra))
        atomic_write_text(self.path, csv_text(trainer.history, columns))


def summary_line(summary: dict) -> str:
    """The final test metrics on one line, the head/middle/tail bands (semscale.scales.split_by_count's) named, a
    band with no class said so (its accuracy is undefined: 'no class', not nan)."""
    from ..scales import FEW_SHOT, MANY_SHOT  # here: `semscale --help` imports this module, scales imports scipy

    bands = {"head": f"head (>{MANY_SHOT} training images)", "middle": f"middle ({FEW_SHOT}-{MANY_SHOT})",
             "tail": f"tail (<{FEW_SHOT})"}
    parts = []
    for key, value in summary.items():
        name = bands.get(key, key)
        if isinstance(value, float):
            parts.append(f"{name} {value:.4f}" if math.isfinite(value) else f"{name}: no class")
        else:
            parts.append(f"{name} {value}")
    return ", ".join(parts)
