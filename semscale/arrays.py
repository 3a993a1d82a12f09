"""Numpy or torch under one spelling, so that the pool's maths (moments.py, volume.py, scales.py) is written once.

Both libraries already share `@`, `*`, indexing, in-place `+=`, `.sum(axis)` and `.T`; an `ArrayOps` supplies the
few operations whose names or semantics differ. `NumpyOps` runs on the host with scipy's in-place LAPACK Cholesky
and the threaded row chunks of parallel.py (on a CPU this is 2-3x faster than torch's kernels, measured at
iNaturalist size); `TorchOps` keeps everything in float64 on one torch device (a GPU run's features never reach the
host) and does each step as one batched call, since a GPU pays per launch rather than per byte.

torch is imported only when a torch backend is asked for: `import semscale` stays torch-free.
"""
from __future__ import annotations

import sys

import numpy as np
from scipy.linalg.lapack import dpotrf  # loaded before the BLAS thread limit below applies

from .parallel import hold_blas_to_setting

hold_blas_to_setting()


def is_tensor(array) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(array, torch.Tensor)


class NumpyOps:
    """float64 numpy on the host."""

    name = "numpy"
    device = None
    exchange_chunk = 64  # classes per chunk: their 64 x 64 scatters (2 MiB) stay in cache; fewer chunks, fewer calls
    distance_chunk = 128  # rows of a distance block per chunk
    cholesky_chunk = 64  # matrices factorised per chunk (chunks run in threads)

    def asarray(self, array, dtype=np.float64):
        if type(array) is np.ndarray and array.dtype == dtype:  # the common case, without the checks below
            return array
        if is_tensor(array):
            array = array.detach().cpu().numpy()
        return np.asarray(array, dtype=dtype)

    def to_numpy(self, array) -> np.ndarray:
        return np.asarray(array)

    def zeros(self, shape, dtype=np.float64):
        return np.zeros(shape, dtype=dtype)

    def full(self, shape, value, dtype=np.float64):
        return np.full(shape, value, dtype=dtype)

    def arange(self, stop):
        return np.arange(stop)

    def cat(self, arrays):
        return np.concatenate(arrays)

    def hstack(self, arrays):
        return np.hstack(arrays)

    def argsort(self, array):
        return np.argsort(array, kind="stable")

    def nonzero(self, mask):
        return np.flatnonzero(mask)

    def searchsorted(self, sorted_values, values):
        return np.searchsorted(sorted_values, values)

    def where(self, condition, a, b):
        return np.where(condition, a, b)

    def cumsum(self, array):
        return np.cumsum(array)

    def segment_sum(self, values, segments, starts, count):
        """Sums of `values` rows per segment: ids `segments` sorted 0..count-1, none empty, starting at `starts`."""
        return np.add.reduceat(values, starts, axis=0)

    def any(self, mask) -> bool:
        return bool(mask.any())

    def first_true(self, mask) -> int:
        return int(np.argmax(mask))

    def max(self, array):
        return array.max()

    def clip_sqrt_(self, array):
        np.maximum(array, 0.0, out=array)
        return np.sqrt(array, out=array)

    def log(self, array):
        return np.log(array)

    def log2(self, array):
        return np.log2(array)

    def scalar(self, value) -> float:
        return float(value)

    def map_chunks(self, function, total: int, chunk: int, min_parallel: int) -> list:
        if total <= chunk:  # one chunk (ten classes: every call), without the hand-off's bookkeeping
            return [function(0, total)] if total else []
        from .parallel import map_chunks

        return map_chunks(function, total, chunk, min_parallel)

    def cholesky_diagonal_(self, matrices) -> tuple:
        """Cholesky factors' diagonals of symmetric positive definite matrices, factorised in place; and the
        indices where rounding made a matrix lose definiteness (their diagonal is left unspecified)."""
        failed = []
        # LAPACK in place, one matrix at a time: numpy's batched cholesky copies each matrix in and out, which costs
        # more than the factorisation at d = 64. The transpose is the Fortran view of a symmetric matrix: no copy.
        for index, square in enumerate(matrices):
            if dpotrf(square.T, lower=1, clean=0, overwrite_a=1)[1] != 0:
                failed.append(index)
        return self.diagonal(matrices), failed

    def slogdet(self, matrices):
        return np.linalg.slogdet(matrices)

    def diagonal(self, matrices):
        """A writable view of each matrix's diagonal."""
        if matrices.flags.c_contiguous:  # a strided view: a fraction of einsum's cost on small matrices
            dim = matrices.shape[-1]
            return matrices.reshape(*matrices.shape[:-2], dim * dim)[..., ::dim + 1]
        return np.einsum("...ii->...i", matrices)

    def eye(self, dim):
        return np.eye(dim)


class TorchOps:
    """float64 torch on one device; every step batched (no per-class or per-chunk Python loops)."""

    name = "torch"
    exchange_chunk = 1 << 62  # one chunk: a GPU wants one large launch, not many cache-sized ones
    distance_chunk = 1 << 62
    cholesky_chunk = 1 << 62

    def __init__(self, device="cpu"):
        import torch

        self.torch = torch
        self.device = torch.device(device)

    def asarray(self, array, dtype=np.float64):
        if not is_tensor(array):
            array = self.torch.from_numpy(np.ascontiguousarray(np.asarray(array)))
        return array.detach().to(device=self.device, dtype=self._dtype(dtype))

    def to_numpy(self, array) -> np.ndarray:
        return array.detach().cpu().numpy()

    def _dtype(self, dtype):
        """A torch dtype for a numpy one (torch dtypes pass through)."""
        torch = self.torch
        return {np.float64: torch.float64, np.float32: torch.float32, np.int64: torch.int64,
                bool: torch.bool}.get(dtype, dtype)

    def zeros(self, shape, dtype=np.float64):
        return self.torch.zeros(_shape(shape), dtype=self._dtype(dtype), device=self.device)

    def full(self, shape, value, dtype=np.float64):
        return self.torch.full(_shape(shape), value, dtype=self._dtype(dtype), device=self.device)

    def arange(self, stop):
        return self.torch.arange(stop, device=self.device)

    def cat(self, arrays):
        return self.torch.cat(list(arrays))

    def hstack(self, arrays):
        return self.torch.hstack(list(arrays))

    def argsort(self, array):
        return self.torch.argsort(array, stable=True)

    def nonzero(self, mask):
        return self.torch.nonzero(mask).flatten()

    def searchsorted(self, sorted_values, values):
        return self.torch.searchsorted(sorted_values, values)

    def where(self, condition, a, b):
        torch = self.torch
        a = a if is_tensor(a) else torch.tensor(a, dtype=torch.float64, device=self.device)
        b = b if is_tensor(b) else torch.tensor(b, dtype=torch.float64, device=self.device)
        return torch.where(condition, a, b)

    def cumsum(self, array):
        return self.torch.cumsum(array, 0)

    def segment_sum(self, values, segments, starts, count):
        out = self.torch.zeros((count, *values.shape[1:]), dtype=values.dtype, device=self.device)
        return out.index_add_(0, segments, values)

    def any(self, mask) -> bool:
        return bool(mask.any())

    def first_true(self, mask) -> int:
        return int(self.torch.argmax(mask.to(self.torch.int8)))

    def max(self, array):
        return array.max()

    def clip_sqrt_(self, array):
        return array.clamp_(min=0.0).sqrt_()

    def log(self, array):
        return self.torch.log(array)

    def log2(self, array):
        return self.torch.log2(array)

    def scalar(self, value) -> float:
        return float(value)

    def map_chunks(self, function, total: int, chunk: int, min_parallel: int) -> list:
        return [function(start, min(start + chunk, total)) for start in range(0, total, chunk)]

    def cholesky_diagonal_(self, matrices) -> tuple:
        factor, info = self.torch.linalg.cholesky_ex(matrices)
        failed = self.torch.nonzero(info).flatten()
        return self.diagonal(factor), failed.tolist() if len(failed) else []

    def slogdet(self, matrices):
        return self.torch.linalg.slogdet(matrices)

    def diagonal(self, matrices):
        return self.torch.diagonal(matrices, dim1=-2, dim2=-1)

    def eye(self, dim):
        return self.torch.eye(dim, dtype=self.torch.float64, device=self.device)


def _shape(shape) -> tuple:
    return (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)


NUMPY = NumpyOps()
_TORCH: dict = {}  # device -> TorchOps


def ops_for(*arrays):
    """The backend of the given arrays: torch on their device if any is a tensor, else numpy."""
    for array in arrays:
        if type(array) is not np.ndarray and is_tensor(array):
            if array.device not in _TORCH:
                _TORCH[array.device] = TorchOps(array.device)
            return _TORCH[array.device]
    return NUMPY
