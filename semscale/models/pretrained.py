"""ImageNet weights for the paper's backbones, from the packages' own caches or a local file; never downloaded.

Each backbone's weights file has one home, the place its package caches it:
  torchvision and timm   <torch hub dir>/checkpoints/<file>  (torch.hub.get_dir(): $TORCH_HOME/hub, default
                         ~/.cache/torch/hub); timm's SE-ResNet-50 is also found in the Hugging Face cache
  pytorchcv              ~/.torch/models/<file> (unzipped from the release's <file>.zip), or the hub dir as above
A missing file raises one message naming the URL to fetch and the path to save it at. semscale fetches nothing
itself, so that runs (and tests) never touch the network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .architectures import source_of

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class WeightsFile:
    backbone: str
    url: str
    path: Path                      # where the package looks for it
    mean: tuple = IMAGENET_MEAN     # the input normalisation the weights were trained with
    std: tuple = IMAGENET_STD
    also: tuple = ()                # other places the same weights may already be
    unzip: bool = False             # the URL serves <file>.zip

    def existing(self) -> Path | None:
        return next((p for p in (self.path,) + tuple(self.also) if p is not None and Path(p).is_file()), None)

    def missing_message(self) -> str:
        fetch = f"fetch {self.url} and unzip it into {self.path.parent}" if self.unzip \
            else f"fetch {self.url} and save it as {self.path}"
        return (f"pretrained='imagenet' for backbone {self.backbone!r}: the weights file {self.path.name} is not on "
                f"this machine and semscale never downloads weights. {fetch} "
                f"(or pass pretrained='/path/to/{self.path.name}').")


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def huggingface_cached(repo_id: str, filename: str) -> Path | None:
    """The file in the local Hugging Face cache, or None; looks only on disk."""
    from huggingface_hub import try_to_load_from_cache

    cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")), "hub")
    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache)
    return Path(found) if isinstance(found, str) else None


def imagenet_weights_file(backbone: str) -> WeightsFile:
    source = source_of(backbone)
    if source == "torchvision":
        import torchvision.models as tvm

        weights = tvm.get_model_weights(backbone).DEFAULT
        preset = weights.transforms()
        return WeightsFile(backbone, weights.url, hub_checkpoints() / weights.url.rsplit("/", 1)[-1],
                           tuple(preset.mean), tuple(preset.std))
    if source == "timm":
        import timm

        cfg = timm.models.get_pretrained_cfg(backbone)
        also = tuple(filter(None, (huggingface_cached(cfg.hf_hub_id, name)
                                   for name in ("model.safetensors", "pytorch_model.bin")))) if cfg.hf_hub_id else ()
        return WeightsFile(backbone, cfg.url, hub_checkpoints() / cfg.url.rsplit("/", 1)[-1],
                           tuple(cfg.mean), tuple(cfg.std), also)
    from pytorchcv.models.common.model_store import get_model_name_suffix_data, imgclsmob_repo_url

    error, sha1, release = get_model_name_suffix_data(backbone)
    name = f"{backbone}-{error}-{sha1[:8]}.pth"
    return WeightsFile(backbone, f"{imgclsmob_repo_url}/releases/download/{release}/{name}.zip",
                       Path(os.path.expanduser(os.path.join("~", ".torch", "models"))) / name,
                       also=(hub_checkpoints() / name,), unzip=True)


def read_state_dict(path) -> dict:
    """A state dict from a .pth/.pt/.bin (torch.load, weights only) or .safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist; give the path of a .pth or "
                                f".safetensors state dict, or pretrained='imagenet'")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):  # training checkpoints wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"pretrained weights file {path}: expected a state dict, found {type(state).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def resolve_pretrained(backbone: str, pretrained) -> tuple[dict, tuple, tuple]:
    """(state dict, mean, std) for pretrained='imagenet' or a file path; raises the fetch message when missing."""
    if backbone == "small_cnn":
        raise ValueError("backbone 'small_cnn' has no pretrained weights; use pretrained=None")
    weights = imagenet_weights_file(backbone)
    if pretrained == "imagenet":
        found = weights.existing()
        if found is None:
            raise FileNotFoundError(weights.missing_message())
        return read_state_dict(found), weights.mean, weights.std
    return read_state_dict(pretrained), weights.mean, weights.std


def load_into(net: torch.nn.Module, state: dict, backbone: str) -> None:
    """Strict load of the ImageNet weights into the 1000-class architecture; GoogLeNet's auxiliary heads dropped."""
    own = net.state_dict()
    state = {k: v for k, v in state.items() if not (k.startswith(("aux1.", "aux2.")) and k not in own)}
    result = net.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"pretrained weights do not fit backbone {backbone!r}: missing "
                         f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
