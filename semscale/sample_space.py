"""Sample space of Alg. 1: each image resized to 16 x 16 with its native channels, flattened, pixels in [0, 1].

The paper does not say how it resizes; we use bilinear interpolation with antialiasing, which is what
torchvision's Resize does on tensors. Grayscale images give d = 256, colour images d = 768.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SAMPLE_SIZE = 16


def pixels01(images: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1] from uint8 (0..255) or already-[0, 1] float images."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32, copy=False)


def sample_vectors(images: np.ndarray, size: int = SAMPLE_SIZE, chunk: int = 4096) -> np.ndarray:
    """(N, H, W, C) or (N, H, W) images -> float64 (N, size * size * C) in [0, 1], channel-last flattening."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images: expected (N, H, W) or (N, H, W, C), got shape {images.shape}")
    out = np.empty((len(images), size * size * images.shape[-1]), dtype=np.float64)
    for start in range(0, len(images), chunk):
        batch = torch.from_numpy(pixels01(images[start:start + chunk])).permute(0, 3, 1, 2)
        if batch.shape[-2:] != (size, size):
            batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start:start + len(batch)] = batch.clamp_(0, 1).permute(0, 2, 3, 1).reshape(len(batch), -1).double().numpy()
    return out
