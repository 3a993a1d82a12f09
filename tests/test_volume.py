"""Eq. 3 / Alg. 1 against a plain float64 loop and against the authors' released `perceptual_manifold_geometry`."""
import numpy as np
import pytest
from perceptual_manifold_geometry.density import calculate_volume as reference_volume

from semscale.volume import (class_volumes, half_log2det_identity_plus, volume,
                             volume_from_scatter)


def naive_volume(samples, scale):
    """Eq. 3 written out: centre, sum outer products one sample at a time, determinant, 1/2 log2."""
    m, d = samples.shape
    mean = [sum(samples[i, k] for i in range(m)) / m for k in range(d)]
    scatter = np.zeros((d, d))
    for i in range(m):
        diff = samples[i] - mean
        for a in range(d):
            for b in range(d):
                scatter[a, b] += diff[a] * diff[b]
    return 0.5 * np.log2(np.linalg.det(np.eye(d) + scale / m * scatter))


@pytest.mark.parametrize("m,d", [(2, 3), (5, 3), (7, 4), (3, 6), (20, 5)])
def test_matches_naive_loop(rng, m, d):
    samples = rng.normal(size=(m, d))
    for scale in (None, 0.5, 1e-6 * d):
        expected = naive_volume(samples, d if scale is None else scale)
        assert volume(samples, scale) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("m,d", [(10, 4), (50, 16), (8, 32), (200, 64)])
def test_matches_authors_release(rng, m, d):
    samples = rng.normal(size=(m, d))
    ref, _ = reference_volume(samples, d=float(d))  # their `d` is our scale s
    assert np.isfinite(ref)
    assert volume(samples) == pytest.approx(ref, rel=1e-9)
    ref_unit, _ = reference_volume(samples, d=1.0)
    assert volume(samples, scale=1.0) == pytest.approx(ref_unit, rel=1e-9)


def test_stays_finite_where_the_release_overflows(rng):
    """Alg. 1 on colour images: d = 768. A plain det overflows; the Cholesky log-determinant must not."""
    samples = rng.uniform(0, 1, size=(1000, 768))
    with np.errstate(over="ignore"):
        ref, _ = reference_volume(samples, d=768.0)
    assert np.isinf(ref)
    ours = volume(samples)
    assert np.isfinite(ours) and ours > 0
    # Closed form through the eigenvalues of the covariance: 1/2 sum log2(1 + s * lambda).
    centred = samples - samples.mean(0)
    eig = np.linalg.eigvalsh(centred.T @ centred / len(samples))
    assert ours == pytest.approx(0.5 * np.log2(1 + 768 * np.clip(eig, 0, None)).sum(), rel=1e-9)


def test_gram_form_equals_covariance_form(rng):
    """m < d takes the m x m Gram form (Sylvester); it must equal the d x d form."""
    samples = rng.normal(size=(12, 40))
    centred = samples - samples.mean(0)
    cov_form = volume_from_scatter(centred.T @ centred, np.array(12.0))
    assert volume(samples) == pytest.approx(float(cov_form), rel=1e-10)


def test_single_sample_has_zero_volume(rng):
    assert volume(rng.normal(size=(1, 5))) == 0.0


def test_class_volumes_is_per_class_volume(rng):
    features = rng.normal(size=(90, 6))
    labels = rng.integers(0, 3, size=90)
    expected = [volume(features[labels == c]) for c in range(3)]
    np.testing.assert_allclose(class_volumes(features, labels), expected, rtol=1e-12)


def test_accepts_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    features = rng.normal(size=(40, 5))
    labels = rng.integers(0, 2, size=40)
    np.testing.assert_allclose(class_volumes(torch.tensor(features, dtype=torch.float32), torch.tensor(labels)),
                               class_volumes(features.astype(np.float32), labels), rtol=1e-12)


def test_many_matrices_in_threads_match_slogdet(rng, monkeypatch):
    monkeypatch.setenv("SEMSCALE_THREADS", "2")
    samples = rng.normal(size=(300, 6, 9))
    psd = samples @ samples.transpose(0, 2, 1)
    coefficient = rng.uniform(0.1, 2.0, size=300)
    expected = [np.linalg.slogdet(np.eye(6) + c * m)[1] / (2 * np.log(2)) for c, m in zip(coefficient, psd)]
    np.testing.assert_allclose(half_log2det_identity_plus(psd, coefficient), expected, rtol=1e-12)


def test_cholesky_failure_falls_back_to_slogdet_or_names_the_problem():
    # I + A = diag(-2, -2): no Cholesky, but the determinant (4) is positive, as slogdet reports it.
    assert half_log2det_identity_plus(np.diag([-3.0, -3.0]), 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not positive definite"):
        half_log2det_identity_plus(np.diag([-3.0, 1.0]), 1.0)


def test_numpy_diagonal_is_a_writable_view_of_every_diagonal():
    # volume.py adds the identity through this view: a copy would silently leave the matrices unchanged.
    from semscale.arrays import NUMPY

    rng = np.random.default_rng(3)
    for matrices in (rng.normal(size=(4, 5, 5)), rng.normal(size=(4, 5, 5)).swapaxes(1, 2), rng.normal(size=(2, 3, 3, 3))):
        expected = matrices.copy()
        for index in np.ndindex(matrices.shape[:-2]):
            expected[index] += np.eye(matrices.shape[-1])
        NUMPY.diagonal(matrices)[...] += 1.0
        np.testing.assert_array_equal(matrices, expected)
    assert NUMPY.diagonal(np.zeros((3, 0, 0))).shape == (3, 0)
