"""TrainConfig: every setting of one training run, hashed into the key that names its checkpoint and cache entry.

Fields up to `seed` are the original ones. The engine's fields after it default to the original behaviour (the
in-memory CPU loop of the small embedded sets) except `device`, which picks CUDA when present. They enter `key()`
only when set away from their default, so checkpoints and cached models written before they existed stay valid;
`workers` never enters it: each sample's augmentation is seeded from (seed, epoch, index), so the number of loader
processes cannot change a result.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

# Engine fields added after the original config: hashed only when not at their default (see module docstring).
ENGINE_FIELDS = ("device", "amp", "workers", "channels_last", "sync_bn", "deterministic", "threads", "augment",
                 "mix", "mix_alpha", "image_size", "pretrained", "stem", "method", "method_options", "embedding_dim",
                 "lr_milestones")
NOT_HASHED = ("workers",)

# Allowed values (the command line's choices). __post_init__ checks the engine fields; the original ones are
# checked where they are used (build_loss, build_weighting, build_optimizer, ...), which also accept other spellings.
# Kept literal so that `semscale train --help` imports no torch; a test checks loss against semscale.losses.
CHOICES = {"task": ("classification", "metric"), "head": ("linear", "cosine"),
           "loss": ("ce", "focal", "ldam", "bs", "lade", "nsm", "st", "circle"),
           "weighting": ("none", "cb", "dsb", "dsb1", "cdb"), "optimizer": ("adam", "sgd"),
           "schedule": ("exp", "linear", "none", "step", "cosine"), "amp": ("off", "bf16", "fp16"),
           "channels_last": ("auto", "on", "off"), "augment": ("none", "cifar", "imagenet"),
           "mix": ("none", "mixup", "cutmix", "mixup_cutmix")}


@dataclass
class TrainConfig:
    task: str = "classification"      # classification | metric
    backbone: str = "small_cnn"       # small_cnn or a torchvision name (semscale.models.TORCHVISION_BACKBONES)
    head: str = "linear"              # linear | cosine (LDAM's normalised head)
    width: int = 32                   # small_cnn channels
    loss: str = "ce"                  # ce | focal | ldam | bs | lade | nsm | st | circle (metric)
    loss_options: dict = field(default_factory=dict)
    weighting: str = "none"           # none | cb | dsb | dsb1 | cdb
    weighting_options: dict = field(default_factory=dict)
    warmup_epochs: int = 5            # n of the three-stage framework
    alpha: float = 2.0                # W = log2(alpha + W'); 2 on long-tailed data, 1 on balanced
    epochs: int = 10
    batch_size: int = 64              # the global batch: split across torchrun ranks
    optimizer: str = "adam"           # adam | sgd
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "exp"             # exp (x lr_gamma per epoch) | linear (to 0) | none | step | cosine (to 0)
    lr_gamma: float = 0.98            # exp: the factor per epoch; step: the factor at each milestone
    seed: int = 0
    # ---- engine (issue 9)
    device: str = "auto"              # auto (CUDA when present, else CPU) | cpu | cuda | cuda:N
    amp: str = "off"                  # off | bf16 | fp16 (fp16 with a GradScaler; CUDA only)
    workers: int = -1                 # DataLoader processes for file datasets; -1: min(8, CPUs - 1)
    channels_last: str = "auto"       # auto (on for CUDA convolutions under amp) | on | off
    sync_bn: bool = False             # SyncBatchNorm across torchrun ranks (CUDA)
    deterministic: bool = True        # deterministic algorithms, no cudnn benchmark
    threads: int = 0                  # torch CPU threads; 0: SEMSCALE_THREADS when set, else torch's default
    augment: str = "none"             # none | cifar (crop with padding, flip) | imagenet (RandomResizedCrop, flip)
    mix: str = "none"                 # none | mixup | cutmix | mixup_cutmix (one of the two a batch; Table 3)
    mix_alpha: float = 1.0            # Beta(alpha, alpha) of the mixing coefficient
    image_size: int = 0               # 0: the dataset's own size (file datasets need one: 224 for ImageNet-scale)
    pretrained: str = ""              # "" | "imagenet" | path of a local weights file
    stem: str = "auto"                # auto | cifar (3x3 stride-1, no max-pool) | imagenet
    # ---- methods (issue 11): "" = the Network's own head and `loss`; else a semscale.methods name replaces both
    method: str = ""                  # "" | ce | paco | ride | bbn | mbj | dive | ifl | crt | lws | tde | blsoftmax
    method_options: dict = field(default_factory=dict)
    # ---- metric learning (App. D.5.1): the embedding's width; the pool keeps it average-pooled to 64-d
    embedding_dim: int = 64           # task 'metric': 64 or 512 in Table 4
    # ---- step schedule: lr x lr_gamma once each of these epochs has ended (e.g. [50, 100] for "/10 every 50")
    lr_milestones: list = field(default_factory=list)

    def __post_init__(self):
        for name in ENGINE_FIELDS:
            value, allowed = getattr(self, name), CHOICES.get(name)
            if allowed and value not in allowed:
                raise ValueError(f"TrainConfig.{name} = {value!r}: expected one of {', '.join(allowed)}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"TrainConfig.epochs = {self.epochs!r}: expected a positive integer (with 0 nothing is "
                             "trained and an untrained model would be evaluated)")
        if not isinstance(self.embedding_dim, int) or self.embedding_dim < 1:
            raise ValueError(f"TrainConfig.embedding_dim = {self.embedding_dim!r}: expected a positive integer "
                             "(64 or 512 in Table 4)")
        milestones = self.lr_milestones
        if self.schedule == "step" and not (milestones and all(isinstance(m, int) and m > 0 for m in milestones)
                                            and list(milestones) == sorted(set(milestones))):
            raise ValueError(f"TrainConfig.lr_milestones = {milestones!r}: schedule 'step' needs increasing positive "
                             "epoch numbers, e.g. [50, 100, 150] for lr / 10 every 50 epochs with lr_gamma 0.1")
        if self.mix != "none" and self.task != "classification":
            raise ValueError("TrainConfig.mix: MixUp/CutMix mix class labels; use it with task 'classification'")
        if self.method:
            if self.loss != "ce":
                raise ValueError(f"TrainConfig: loss {self.loss!r} and method {self.method!r} both given; a method "
                                 "brings its own loss (config.loss is not used): leave loss at 'ce'")
            if self.task != "classification" or self.mix != "none":
                raise ValueError(f"TrainConfig.method {self.method!r}: methods train classification without "
                                 "MixUp/CutMix; use task 'classification' and mix 'none'")

    def key(self) -> str:
        """Hash of the config: checkpoints and cached models are keyed by it (see the module docstring)."""
        values, defaults = asdict(self), defaults_of()
        for name in ENGINE_FIELDS:
            if name in NOT_HASHED or values[name] == defaults[name]:
                values.pop(name)
        return hashlib.sha256(json.dumps(values, sort_keys=True, default=module_digest).encode()).hexdigest()[:16]


def module_digest(value) -> str:
    """JSON stand-in for a torch module in an options mapping (DiVE's teacher): its class and its tensors' hash."""
    if not hasattr(value, "state_dict"):
        raise TypeError(f"TrainConfig: an option value of type {type(value).__name__} cannot be hashed into the key; "
                        "use numbers, strings, lists, mappings or a torch module")
    digest = hashlib.sha256(type(value).__name__.encode())
    for name, tensor in value.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "module:" + digest.hexdigest()


def defaults_of() -> dict:
    """Each TrainConfig field's default value."""
    return {f.name: (f.default_factory() if callable(f.default_factory) else f.default) for f in fields(TrainConfig)}
