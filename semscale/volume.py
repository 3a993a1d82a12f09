"""Volume of a class's manifold: paper Eq. 3 and Alg. 1.

    Vol(Z) = 1/2 log2 det(I + (s/m) (Z - mean)^T (Z - mean)),   Z: m samples as rows, d dimensions.

The paper's Eq. 3 and Alg. 1 use s = d; Eq. 2 has s = d / eps^2; the authors' released
`perceptual_manifold_geometry.calculate_volume(Z, d)` takes s as a free argument. We expose s and default to d.

Numerics: a plain determinant overflows for d of a few hundred, so we take a float64 Cholesky (slogdet as a
fallback) and, when m < d, the m x m Gram form, which Sylvester's identity det(I + A B) = det(I + B A) makes equal.
"""
from __future__ import annotations

import math

import numpy as np

from .arrays import is_tensor, ops_for
from .validation import check_features, check_labelled

LOG2 = np.log(2.0)


def half_log2det_identity_plus(psd, coefficient):
    """1/2 log2 det(I + coefficient * psd) for symmetric positive semi-definite matrices, batched on leading axes.

    numpy in, numpy out: many matrices are split into chunks factorised in parallel threads (see parallel.py).
    A torch tensor in: float64 on its device, one batched factorisation.
    """
    ops = ops_for(psd)
    psd = ops.asarray(psd)
    if not is_tensor(coefficient):
        coefficient = np.asarray(coefficient, dtype=np.float64)
        if coefficient.shape != psd.shape[:-2]:
            coefficient = np.broadcast_to(coefficient, tuple(psd.shape[:-2]))
    coefficient = ops.asarray(coefficient)
    if psd.shape[-1] == 0:
        return ops.zeros(tuple(psd.shape[:-2]))
    flat = psd.reshape(-1, *psd.shape[-2:])
    coefficient = coefficient.reshape(-1)
    parts = ops.map_chunks(lambda a, b: _half_log2det(ops, flat[a:b], coefficient[a:b]), len(flat),
                           chunk=ops.cholesky_chunk, min_parallel=128)
    return (ops.cat(parts) if parts else ops.zeros(0)).reshape(tuple(psd.shape[:-2]))


def _half_log2det(ops, psd, coefficient):
    """The one formula: log det(I + cA) = 2 sum log diag(chol(I + cA)); halved and in bits, that is
    sum log diag / log 2."""
    matrix = psd * coefficient[:, None, None]
    ops.diagonal(matrix)[...] += 1.0  # a writable view of every diagonal
    diagonal, failed = ops.cholesky_diagonal_(matrix)
    for index in failed:  # rounding made I + cA lose definiteness: slogdet of the same matrix decides
        sign, logdet = ops.slogdet(psd[index] * coefficient[index] + ops.eye(psd.shape[-1]))
        if ops.scalar(sign) <= 0:
            raise ValueError("I + (s/m) * scatter is not positive definite; check the features for huge values")
        diagonal[index] = float(np.exp(ops.scalar(logdet) / (2 * psd.shape[-1])))  # spread evenly on the diagonal
    return _half_log2_from_diagonal(ops, diagonal)


def _half_log2_from_diagonal(ops, diagonal):
    return ops.log(diagonal).sum(-1) / LOG2


def half_log2det_identity_plus_deferred(psd, coefficient):
    """The same 1/2 log2 det(I + coefficient * psd) for torch tensors, with no read back to the host: returns the
    values and a mask of the matrices whose factorisation failed (their values are NaN), for the caller to check
    when it next synchronises (semscale/device_pool.py)."""
    ops = ops_for(psd)
    matrix = psd * coefficient[:, None, None]
    ops.diagonal(matrix)[...] += 1.0
    factor, info = ops.torch.linalg.cholesky_ex(matrix)
    failed = info != 0
    values = _half_log2_from_diagonal(ops, ops.diagonal(factor))
    return ops.torch.where(failed, float("nan"), values), failed


def resolve_scale(scale, dim: int) -> float:
    """The s of Eq. 3: the feature dimension unless given."""
    if scale is None:
        return float(dim)
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale: must be a positive finite number, got {scale!r}")
    return scale


def volume(samples, scale: float | None = None) -> float:
    """Eq. 3 for one class; `samples` holds the class's m samples as rows. Vol = 0 for m = 1."""
    samples = check_features(samples, "samples")
    count, dim = samples.shape
    if count == 0:
        raise ValueError("samples: a class needs at least one sample to have a volume")
    centred = samples - samples.mean(axis=0)
    # Sylvester: det(I_d + c Zc^T Zc) = det(I_m + c Zc Zc^T); take the smaller side.
    psd = centred @ centred.T if count < dim else centred.T @ centred
    return float(half_log2det_identity_plus(psd, resolve_scale(scale, dim) / count))


def volume_from_scatter(scatter: np.ndarray, counts: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Eq. 3 from centred scatter matrices sum (z - mean)(z - mean)^T (batched) and their sample counts.

    A class with fewer than two samples has zero scatter and so volume 0.
    """
    ops = ops_for(scatter, counts)
    scatter, counts = ops.asarray(scatter), ops.asarray(counts)
    coefficient = ops.where(counts > 0, resolve_scale(scale, scatter.shape[-1]) / counts.clip(1.0, None), 0.0)
    return half_log2det_identity_plus(scatter, coefficient)


def class_volumes(features, labels, num_classes: int | None = None, scale: float | None = None) -> np.ndarray:
    """Eq. 3 for every class of a labelled set in one pass; shape (C,). Every class must have a sample."""
    features, labels, num_classes = check_labelled(features, labels, num_classes)
    scale = resolve_scale(scale, features.shape[1])
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(num_classes + 1))
    return np.array([volume(features[order[bounds[c]:bounds[c + 1]]], scale) for c in range(num_classes)])
