"""Formulas written out plainly for the tests to compare semscale with (never semscale's own code)."""
import numpy as np


def hand_volume(z) -> float:
    """Paper Eq. 3 with s = d: 1/2 log2 det(I + d/m Zc^T Zc), Zc the centred m x d samples, by slogdet of the
    d x d matrix (semscale takes a Cholesky, of the smaller Gram side when m < d)."""
    z = np.asarray(z, dtype=np.float64)
    m, d = z.shape
    centred = z - z.mean(0)
    sign, logdet = np.linalg.slogdet(np.eye(d) + (d / m) * centred.T @ centred)
    assert sign > 0
    return 0.5 * logdet / np.log(2.0)
