"""Mergeable moments: add, remove and merge against recomputation from the raw samples."""
import numpy as np
import pytest

from semscale.moments import ClassMoments, group_moments
from semscale.volume import volume


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
