"""The incremental pool against a from-scratch recomputation over its raw contents, at every step."""
import numpy as np
import pytest

from semscale.pool import FeaturePool, dsb_weights, scales_from_parts
from semscale.scales import semantic_scales
from semscale.volume import volume


def recompute(pool: FeaturePool):
    """The paper's way: every class from the pool's raw contents (naive per-class volume and centre)."""
    features, labels = pool.contents()
    C = pool.num_classes
    volumes, centres, present = np.zeros(C), np.zeros((C, pool.dim)), np.zeros(C, bool)
    for c in range(C):
        members = features[labels == c]
        if len(members):
            present[c] = True
            volumes[c] = volume(members, pool.scale)
            centres[c] = members.mean(0)
    scales = {k: np.zeros(C) for k in ("S_prime", "W_prime", "W", "S")}
    if present.any():
        full = semantic_scales(volumes[present], centres[present], pool.alpha)
        for key, value in (("S_prime", full.s_prime), ("W_prime", full.w_prime), ("W", full.w), ("S", full.s)):
            scales[key][present] = value
    return scales, present


def test_agrees_with_recomputation_at_every_step():
    rng = np.random.default_rng(7)
    C, d = 12, 6
    pool = FeaturePool(C, d, warmup_epochs=2, alpha=2.0)
    drift = rng.normal(size=(C, d)) * 3
    steps_per_epoch = 8
    checked_small = checked_absent = 0
    for step in range(300):
        epoch = 1 + step // steps_per_epoch
        # Skewed, varying batches: some classes are rare, enter and leave, or hold a single sample.
        size = int(rng.integers(1, 12))
        labels = rng.choice(C, size=size, p=np.r_[np.full(6, 0.15), np.full(6, 0.1 / 6)])
        features = drift[labels] + rng.normal(size=(size, d)) * rng.uniform(0.2, 2.0) + 0.01 * step
        pool.update(features, labels, epoch)
        expected, present = recompute(pool)
        ours = pool.scales()
        np.testing.assert_array_equal(pool.present, present)
        for key in ("S_prime", "W_prime", "W", "S"):
            np.testing.assert_allclose(ours[key], expected[key], rtol=1e-6, atol=1e-12, err_msg=f"{key} step {step}")
        weights = pool.weights()
        assert np.all(np.isfinite(weights)) and np.all(weights > 0)
        assert weights.sum() == pytest.approx(C)
        np.testing.assert_allclose(weights, dsb_weights(expected["S"]), rtol=1e-6)
        counts = pool.moments.counts
        checked_small += int(((counts == 1)).any())
        checked_absent += int((counts == 0).any())
    assert checked_small > 10 and checked_absent > 10  # the edge cases were really exercised


def test_many_classes_small_batches_agree_with_recomputation(monkeypatch):
    # Few touched classes among many present: the distance sums are updated by touched rows only (the path the
    # ten-class test above never takes); a class leaves, enters, holds one sample.
    import semscale.pool as pool_module

    incremental = []
    original = pool_module.distance_sums

    def spy(rows, columns, row_signs=None, **options):
        incremental.append(row_signs is not None)
        return original(rows, columns, row_signs, **options)

    monkeypatch.setattr(pool_module, "distance_sums", spy)
    rng = np.random.default_rng(5)
    C, d = 60, 4
    pool = FeaturePool(C, d, warmup_epochs=1, alpha=1.5)
    for step in range(120):
        size = int(rng.integers(1, 6))
        labels = rng.integers(0, C, size=size)
        pool.update(rng.normal(size=(size, d)) + labels[:, None] * 0.3, labels, epoch=1 + step // 40)
        expected, present = recompute(pool)
        np.testing.assert_array_equal(pool.present, present)
        np.testing.assert_allclose(pool.scales()["S"], expected["S"], rtol=1e-9, atol=1e-12, err_msg=f"step {step}")
    assert sum(incremental) > 50 and not all(incremental)


def test_stages_follow_the_text():
    pool = FeaturePool(3, 2, warmup_epochs=5)
    assert [pool.stage(e) for e in (1, 2, 5, 6)] == [1, 2, 2, 3]
    assert not pool.reweighting(5) and pool.reweighting(6)
    rng = np.random.default_rng(0)
    for _ in range(4):
        pool.update(rng.normal(size=(3, 2)), [0, 1, 2], epoch=1)
    assert len(pool) == 12  # stage 1 keeps everything
    pool.update(rng.normal(size=(3, 2)), [0, 1, 2], epoch=2)
    assert len(pool) == 12  # stage 2: one in, one out


def test_dsb_weights_by_hand():
    np.testing.assert_allclose(dsb_weights([1.0, 0.5, 0.25]), np.array([1, 2, 4]) * 3 / 7)
    # A class with S = 0 gets the weight of the smallest positive S.
    np.testing.assert_allclose(dsb_weights([1.0, 0.5, 0.0]), np.array([1, 2, 2]) * 3 / 5)
    np.testing.assert_array_equal(dsb_weights([0.0, 0.0]), [1.0, 1.0])


def test_scales_from_parts_single_class():
    out = scales_from_parts([2.0, 0.0], [0.0, 0.0], [True, False], alpha=1.0)
    assert out["S"].tolist() == [1.0, 0.0]


def test_checkpoint_round_trip():
    rng = np.random.default_rng(1)
    pool = FeaturePool(4, 3)
    for e in (1, 1, 2, 2):
        pool.update(rng.normal(size=(5, 3)), rng.integers(0, 4, 5), e)
    clone = FeaturePool(4, 3)
    clone.load_state_dict(pool.state_dict())
    np.testing.assert_array_equal(clone.weights(), pool.weights())
    features, labels = rng.normal(size=(5, 3)), rng.integers(0, 4, 5)
    pool.update(features, labels, 3)
    clone.update(features, labels, 3)
    np.testing.assert_array_equal(clone.weights(), pool.weights())


def test_weights_from_scratch_equal_incremental():
    from semscale.pool import weights_from_scratch

    rng = np.random.default_rng(3)
    pool = FeaturePool(9, 5, warmup_epochs=1, alpha=2.0)
    for step in range(40):
        labels = rng.integers(0, 9, size=16)
        pool.update(rng.normal(size=(16, 5)) + labels[:, None], labels, epoch=1 + step // 10)
    features, labels = pool.contents()
    np.testing.assert_allclose(weights_from_scratch(features, labels, 9, alpha=2.0), pool.weights(), rtol=1e-9)
