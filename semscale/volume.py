"""Volume of a class's manifold: paper Eq. 3 and Alg. 1.

    Vol(Z) = 1/2 log2 det(I + (s/m) (Z - mean)^T (Z - mean)),   Z: m samples as rows, d dimensions.

The paper's Eq. 3 and Alg. 1 use s = d; Eq. 2 has s = d / eps^2; the authors' released
`perceptual_manifold_geometry.calculate_volume(Z, d)` takes s as a free argument. We expose s and default to d.

Numerics: a plain determinant overflows for d of a few hundred, so we take a float64 Cholesky (slogdet as a
fallback) and, when m < d, the m x m Gram form, which Sylvester's identity det(I + A B) = det(I + B A) makes equal.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf as potrf

from .parallel import map_chunks
from .validation import check_features, check_labelled

LOG2 = np.log(2.0)


def half_log2det_identity_plus(psd: np.ndarray, coefficient) -> np.ndarray:
    """1/2 log2 det(I + coefficient * psd) for symmetric positive semi-definite matrices, batched on leading axes.

    Many matrices are split into chunks factorised in parallel threads (see parallel.py).
    """
    psd = np.asarray(psd, dtype=np.float64)
    coefficient = np.broadcast_to(np.asarray(coefficient, dtype=np.float64), psd.shape[:-2])
    if psd.shape[-1] == 0:
        return np.zeros(psd.shape[:-2])
    flat = psd.reshape(-1, *psd.shape[-2:])
    coefficient = coefficient.reshape(-1)
    parts = map_chunks(lambda a, b: _half_log2det(flat[a:b], coefficient[a:b]), len(flat), chunk=64,
                       min_parallel=128)
    return (np.concatenate(parts) if parts else np.zeros(0)).reshape(psd.shape[:-2])


def _half_log2det(psd: np.ndarray, coefficient: np.ndarray) -> np.ndarray:
    matrix = psd * coefficient[:, None, None]
    diagonal = np.einsum("...ii->...i", matrix)  # a writable view of every diagonal
    diagonal += 1.0
    # LAPACK's Cholesky in place, one matrix at a time: numpy's batched cholesky copies each matrix in and out,
    # which costs more than the factorisation at d = 64. The transpose is the Fortran-ordered view of a symmetric
    # matrix, so nothing is copied.
    for index, square in enumerate(matrix):
        if potrf(square.T, lower=1, clean=0, overwrite_a=1)[1] != 0:  # rounding made I + cA lose definiteness
            sign, logdet = np.linalg.slogdet(psd[index] * coefficient[index] + np.eye(psd.shape[-1]))
            if sign <= 0:
                raise ValueError("I + (s/m) * scatter is not positive definite; check the features for huge values")
            diagonal[index] = np.exp(logdet / (2 * psd.shape[-1]))  # the same log-determinant, spread evenly
    return np.log(diagonal).sum(-1) / LOG2


def resolve_scale(scale, dim: int) -> float:
    """The s of Eq. 3: the feature dimension unless given."""
    if scale is None:
        return float(dim)
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
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
    scatter = np.asarray(scatter, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    coefficient = np.where(counts > 0, resolve_scale(scale, scatter.shape[-1]) / np.maximum(counts, 1.0), 0.0)
    return half_log2det_identity_plus(scatter, coefficient)


def class_volumes(features, labels, num_classes: int | None = None, scale: float | None = None) -> np.ndarray:
    """Eq. 3 for every class of a labelled set in one pass; shape (C,). Every class must have a sample."""
    features, labels, num_classes = check_labelled(features, labels, num_classes)
    scale = resolve_scale(scale, features.shape[1])
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(num_classes + 1))
    return np.array([volume(features[order[bounds[c]:bounds[c + 1]]], scale) for c in range(num_classes)])
