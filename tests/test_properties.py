"""Properties of Eq. 3 that any correct implementation has (hypothesis)."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from semscale.moments import ClassMoments
from semscale.volume import class_volumes, volume

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)


def clouds(min_m=2, max_m=30, max_d=8):
    return st.tuples(st.integers(min_m, max_m), st.integers(1, max_d)).flatmap(
        lambda md: arrays(np.float64, md, elements=finite))


@settings(max_examples=60, deadline=None)
@given(clouds(), st.lists(finite, min_size=8, max_size=8))
def test_translation_invariant(samples, shift):
    shifted = samples + np.asarray(shift[: samples.shape[1]])
    assert np.isclose(volume(shifted), volume(samples), rtol=1e-7, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(clouds(), st.integers(0, 2**32 - 1))
def test_rotation_invariant(samples, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(samples.shape[1],) * 2))
    assert np.isclose(volume(samples @ q), volume(samples), rtol=1e-7, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(clouds(), st.randoms(use_true_random=False))
def test_order_invariant(samples, random):
    order = list(range(len(samples)))
    random.shuffle(order)
    assert np.isclose(volume(samples[order]), volume(samples), rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(clouds(min_m=1, max_m=1))
def test_one_sample_zero(samples):
    assert volume(samples) == 0.0


@settings(max_examples=60, deadline=None)
@given(clouds(), st.floats(1.01, 10))
def test_positive_and_strictly_increasing_with_scale_factor(samples, w):
    centre = samples.mean(0)
    if np.ptp(samples, axis=0).max() == 0:  # identical samples: nothing spans any volume, at any w
        assert volume(samples) == 0.0 and volume(centre + w * (samples - centre)) == 0.0
        return
    if np.ptp(samples, axis=0).max() < 1e-6:  # below this the log-determinant sits at rounding level
        return
    base = volume(samples)
    assert base > 0
    assert volume(centre + w * (samples - centre)) > base


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.integers(1, 6), st.integers(0, 2**32 - 1), st.lists(st.integers(1, 40), min_size=1,
                                                                                 max_size=6))
def test_streaming_merge_equals_one_pass(num_classes, dim, seed, chunk_sizes):
    rng = np.random.default_rng(seed)
    n = sum(chunk_sizes)
    features = rng.normal(size=(n, dim)) * rng.uniform(0.1, 5) + rng.normal(size=dim) * 3
    labels = rng.integers(0, num_classes, size=n)
    one_pass = ClassMoments.from_data(features, labels, num_classes)
    parts, start = [], 0
    for size in chunk_sizes:
        parts.append(ClassMoments.from_data(features[start:start + size], labels[start:start + size], num_classes))
        start += size
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    np.testing.assert_allclose(merged.counts, one_pass.counts)
    np.testing.assert_allclose(merged.means, one_pass.means, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(merged.scatters, one_pass.scatters, rtol=1e-9, atol=1e-8)
    present = np.flatnonzero(one_pass.counts > 0)
    np.testing.assert_allclose(merged.volumes()[present],
                               class_volumes(features, labels, num_classes=num_classes,
                                             scale=None)[present] if len(present) == num_classes else
                               [volume(features[labels == c]) for c in present], rtol=1e-8, atol=1e-10)
