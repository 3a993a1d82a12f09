"""Mergeable moments: add, remove and merge against recomputation from the raw samples."""
import numpy as np
import pytest

from semscale.moments import ClassMoments, group_moments
from semscale.volume import volume, volume_from_scatter


def test_add_then_remove_returns_to_the_rest(rng):
    features = rng.normal(size=(60, 5)) + 4
    labels = rng.integers(0, 3, size=60)
    moments = ClassMoments.from_data(features, labels, 3)
    moments.remove(features[:20], labels[:20])
    rest = ClassMoments.from_data(features[20:], labels[20:], 3)
    np.testing.assert_allclose(moments.counts, rest.counts)
    np.testing.assert_allclose(moments.scatters, rest.scatters, atol=1e-9)
    for c in range(3):
        assert moments.volumes()[c] == pytest.approx(volume(features[20:][labels[20:] == c]), rel=1e-9)


def test_removing_everything_resets_exactly(rng):
    features = rng.normal(size=(10, 3))
    labels = np.zeros(10, dtype=int)
    moments = ClassMoments.from_data(features, labels, 2)
    moments.remove(features, labels)
    assert moments.counts[0] == 0 and not moments.scatters.any() and not moments.means.any()


def test_remove_more_than_held_is_an_error(rng):
    moments = ClassMoments.from_data(rng.normal(size=(2, 3)), [0, 0], 1)
    with pytest.raises(ValueError, match="class 0: removing more samples"):
        moments.remove(rng.normal(size=(3, 3)), [0, 0, 0])


def test_group_moments_against_a_loop(rng):
    features = rng.normal(size=(50, 4)) + 3
    labels = rng.integers(0, 6, size=50)
    group = group_moments(features, labels)
    for k, c in enumerate(group.classes):
        members = features[labels == c]
        centred = members - members.mean(0)
        assert group.counts[k] == len(members)
        np.testing.assert_allclose(group.means[k], members.mean(0), rtol=1e-12)
        np.testing.assert_allclose(group.scatters[k], sum(np.outer(z, z) for z in centred), rtol=1e-10, atol=1e-12)


def test_state_dict_round_trip(rng):
    moments = ClassMoments.from_data(rng.normal(size=(20, 3)), rng.integers(0, 2, 20), 2)
    clone = ClassMoments(2, 3)
    clone.load_state_dict(moments.state_dict())
    np.testing.assert_array_equal(clone.volumes(), moments.volumes())


def _naive(features, labels, num_classes):
    """Count, mean and centred scatter per class by a plain loop over classes."""
    counts, means, scatters = np.zeros(num_classes), np.zeros((num_classes, features.shape[1])), []
    for c in range(num_classes):
        members = features[labels == c]
        counts[c] = len(members)
        if len(members):
            means[c] = members.mean(0)
        centred = members - means[c]
        scatters.append(centred.T @ centred)
    return counts, means, np.stack(scatters)


def test_exchange_equals_recomputing_the_kept_samples(rng):
    # A FIFO window: class 0 gains and loses several rows, class 1 loses one row and class 5 gains one (the
    # one-row path), class 2 leaves entirely, class 3 is left with one sample, class 4 enters from empty.
    old = rng.normal(size=(40, 4)) * 2 + 5
    old_labels = np.r_[np.zeros(10), np.ones(10), np.full(8, 2), np.full(7, 3), np.full(5, 5)].astype(np.int64)
    new = rng.normal(size=(9, 4)) * 2 + 5
    new_labels = np.array([0, 0, 5, 4, 4, 4, 0, 4, 4])
    drop = np.r_[0, 1, 10, 20:28, 28:34]
    moments = ClassMoments.from_data(old, old_labels, 6)
    changed = moments.exchange(new, new_labels, old[drop], old_labels[drop], scale=3.0)
    kept = np.setdiff1d(np.arange(40), drop)
    counts, means, scatters = _naive(np.r_[old[kept], new], np.r_[old_labels[kept], new_labels], 6)
    np.testing.assert_array_equal(changed.classes, [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(moments.counts, counts)
    np.testing.assert_allclose(moments.means, means, atol=1e-12)
    np.testing.assert_allclose(moments.scatters, scatters, atol=1e-10)
    assert moments.scatters[2].sum() == 0 and moments.scatters[3].sum() == 0  # 0 and 1 sample left: exactly zero
    np.testing.assert_allclose(changed.counts, counts)
    np.testing.assert_allclose(changed.means, means, atol=1e-12)
    np.testing.assert_allclose(changed.volumes, volume_from_scatter(scatters, counts, scale=3.0), rtol=1e-12)
    np.testing.assert_array_equal(changed.counts_before, [10, 10, 8, 7, 0, 5])
    np.testing.assert_allclose(changed.means_before, _naive(old, old_labels, 6)[1], atol=1e-12)


def test_exchange_refuses_to_remove_what_is_not_held(rng):
    moments = ClassMoments.from_data(rng.normal(size=(2, 3)), [1, 1], 2)
    with pytest.raises(ValueError, match="class 0: removing more samples"):
        moments.exchange(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), rng.normal(size=(1, 3)), np.array([0]))


def test_exchange_over_many_chunks_in_threads_equals_naive(rng, monkeypatch):
    # Hundreds of touched classes: several chunks, each mixing one-row classes (ordered first) and the rest,
    # updated in two threads.
    monkeypatch.setenv("SEMSCALE_THREADS", "2")
    num_classes = 300
    old_labels = rng.integers(0, num_classes, size=1500)
    old = rng.normal(size=(1500, 3)) + old_labels[:, None] * 0.01
    new_labels = np.r_[rng.integers(0, num_classes, size=200), np.zeros(20, dtype=np.int64)]
    new = rng.normal(size=(220, 3))
    drop = rng.choice(1500, size=250, replace=False)
    moments = ClassMoments.from_data(old, old_labels, num_classes)
    changed = moments.exchange(new, new_labels, old[drop], old_labels[drop])
    assert len(changed.classes) > 128 and np.sum(np.bincount(np.r_[new_labels, old_labels[drop]]) == 1) > 32
    kept = np.setdiff1d(np.arange(1500), drop)
    counts, means, scatters = _naive(np.r_[old[kept], new], np.r_[old_labels[kept], new_labels], num_classes)
    np.testing.assert_allclose(moments.scatters, scatters, atol=1e-10)
    np.testing.assert_allclose(moments.means, means, atol=1e-12)
    np.testing.assert_allclose(changed.volumes, volume_from_scatter(scatters, counts)[changed.classes], rtol=1e-12)
