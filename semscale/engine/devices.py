"""Where a run computes and how: the device, mixed precision, channels-last, thread count and determinism.

Determinism on a machine kind (issue 13, item 3): deterministic algorithms (warn-only, since a few CUDA backward
kernels have no deterministic version), cudnn's autotuner off (it may pick different kernels run to run), a fixed
CPU thread count (reductions are split by thread), and every random draw of training seeded from (seed, epoch,
step or sample) rather than from a global stream, so a resumed run draws what an uninterrupted one draws.
"""
from __future__ import annotations

import contextlib
import os

import torch

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def local_rank() -> int:
    """This process's GPU index on its node under torchrun (LOCAL_RANK), 0 otherwise."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda:LOCAL_RANK when CUDA is present, else cpu; 'cuda' -> cuda:LOCAL_RANK; else as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank()}"
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"TrainConfig.device = {name!r}: expected auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"TrainConfig.device = {name!r}, but this machine has no CUDA device; use 'auto' or "
                             "'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"TrainConfig.device = {name!r}: only {torch.cuda.device_count()} CUDA devices here")
        torch.cuda.set_device(device)
    return device


def thread_count(threads: int = 0) -> int:
    """The CPU thread count a run uses: the config's, else SEMSCALE_THREADS, else 0 (leave torch's default)."""
    if threads > 0:
        return threads
    value = os.environ.get("SEMSCALE_THREADS", "").strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"SEMSCALE_THREADS={value!r}: expected a positive integer")
    return int(value)


def configure_runtime(device: torch.device, deterministic: bool, threads: int = 0) -> None:
    """Thread count, deterministic algorithms and the cudnn autotuner for this process."""
    count = thread_count(threads)
    if count:
        torch.set_num_threads(count)
    if deterministic:
        # cuBLAS is deterministic only with a fixed workspace; must be set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
    else:
        keep_freed_host_memory()


# glibc's mallopt parameters (malloc.h) and the values we set: freed blocks up to 32 MiB (glibc's maximum for this
# threshold on 64-bit) stay in the heap instead of being unmapped, and up to 1 GiB of free heap top is kept.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_BYTES, MMAP_BYTES = 1 << 30, 32 << 20


def keep_freed_host_memory() -> bool:
    """Stop glibc returning a CPU training step's activations to the kernel after every step.

    By default glibc maps each allocation above a threshold (128 KiB, raised dynamically) freshly and unmaps it when
    freed, so every step's activations come back as new zeroed pages: on a 2-core VM the quick small CNN took about
    4,000-5,000 page faults a step, and steps about a fifth slower. With the thresholds above the freed memory is
    reused (about 50 faults a step). It changes where buffers live, not what is computed (the pinned smoke tables
    are unchanged); peak memory stays about the same, but the process keeps it until it exits.
    SEMSCALE_MALLOC=default leaves glibc's behaviour. Returns True when set (False off glibc, e.g. macOS or Windows,
    or when opted out)."""
    if os.environ.get("SEMSCALE_MALLOC", "").strip().lower() == "default":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # & rather than and: both are set even when one is refused
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))


def check_amp(amp: str, device: torch.device) -> None:
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("TrainConfig.amp = 'fp16' needs a CUDA device (its GradScaler guards fp16 gradients); use "
                         "'bf16' or 'off' on the CPU")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"TrainConfig.amp = 'bf16': {torch.cuda.get_device_name(device)} has no bfloat16; use "
                         "'fp16'")


def autocast(device: torch.device, amp: str):
    """The forward pass's mixed-precision context (a no-op for amp 'off')."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


def grad_scaler(device: torch.device, amp: str):
    """A GradScaler for fp16 (loss scaling against underflowing gradients); None otherwise (bf16 needs none)."""
    return torch.amp.GradScaler(device.type) if amp == "fp16" else None


def use_channels_last(setting: str, device: torch.device, amp: str) -> bool:
    """Channels-last pays off for convolutions on tensor cores (CUDA under amp); on the CPU it mostly costs."""
    if setting == "auto":
        return device.type == "cuda" and amp != "off"
    return setting == "on"


def to_device(images: torch.Tensor, labels: torch.Tensor, device: torch.device, channels_last: bool = False):
    """A batch on the device (asynchronously from pinned memory), images channels-last when asked."""
    images = images.to(device, non_blocking=True)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(device, non_blocking=True)
