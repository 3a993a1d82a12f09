"""App. I: the "pizza" subset (largest volume of k random draws) and the data-collection stopping rule, checked
against a plain-loop Eq. 3 and hand-computed cases."""
import numpy as np
import pytest

from hand_formulas import hand_volume
from semscale.selection import collection_curve, pizza_subset


def test_pizza_keeps_the_largest_volume_of_the_draws():
    """The draws are rng.choice(N, size, replace=False), `candidates` times from the caller's generator; the
    subset kept is the one whose volume is largest (the first of equal ones)."""
    vectors = np.random.default_rng(0).normal(size=(30, 4)) * [3.0, 1.0, 0.3, 0.1]
    chosen = pizza_subset(vectors, 6, 12, np.random.default_rng(9))
    replay = np.random.default_rng(9)
    draws = [replay.choice(30, size=6, replace=False) for _ in range(12)]
    volumes = [hand_volume(vectors[d]) for d in draws]
    assert len(set(np.round(volumes, 9))) == 12  # distinct, so argmax and argmin differ
    np.testing.assert_array_equal(chosen, draws[int(np.argmax(volumes))])
    assert len(set(chosen.tolist())) == 6


def test_pizza_hand_case_prefers_the_spread_out_subset():
    """Four points: two far apart, two close together. Among the 6 pairs, the far pair has the largest volume;
    with enough draws it is the one kept (and only the far pair's volume reaches the maximum)."""
    vectors = np.array([[0.0, 0.0], [10.0, 0.0], [0.1, 0.0], [0.2, 0.0]])
    chosen = pizza_subset(vectors, 2, 200, np.random.default_rng(1))
    assert sorted(chosen.tolist()) == [0, 1]
    # Eq. 3 for two points at distance r in d = 2: 1/2 log2(1 + (2/2) * r^2 / 2)
    assert hand_volume(vectors[[0, 1]]) == pytest.approx(0.5 * np.log2(1 + 100 / 2))


def test_pizza_refuses_a_subset_larger_than_the_set():
    with pytest.raises(ValueError, match="size"):
        pizza_subset(np.zeros((3, 2)), 4, 2, np.random.default_rng(0))


def test_collection_curve_volumes_and_stop_by_hand():
    rng = np.random.default_rng(4)
    # 60 samples: the first 20 spread widely, the rest near the first ones, so the volume saturates
    base = rng.normal(size=(20, 3)) * 4
    vectors = np.vstack([base, base[rng.integers(0, 20, 40)] + rng.normal(scale=0.01, size=(40, 3))])
    sizes, values, stop = collection_curve(vectors, 10, 0.05)
    assert sizes == [10, 20, 30, 40, 50, 60]
    expected = [hand_volume(vectors[:n]) for n in sizes]
    np.testing.assert_allclose(values, expected, rtol=1e-10)
    # the rule of App. I.2 step (5), by hand: first n with (S_n - S_{n-1}) / S_n below the threshold
    growth = {sizes[i]: (expected[i] - expected[i - 1]) / expected[i] for i in range(1, len(sizes))}
    first = next(n for n in sizes[1:] if growth[n] < 0.05)
    assert stop == first
    # a threshold between two growths moves the stop exactly there
    ordered = sorted(growth.items(), key=lambda item: item[0])
    n2, g2 = ordered[0]
    assert collection_curve(vectors, 10, g2 + 1e-9)[2] == n2          # just above the first growth: stop at 20
    assert collection_curve(vectors, 10, g2 - 1e-9)[2] != n2          # just below: later (or never)
    assert collection_curve(vectors, 10, -1.0)[2] is None             # growth is never below -100 %


def test_collection_curve_hand_values_in_one_dimension():
    """d = 1: Vol = 1/2 log2(1 + (1/m) sum (x - mean)^2) = 1/2 log2(1 + population variance)."""
    vectors = np.array([[0.0], [2.0], [0.0], [2.0], [1.0], [1.0]])
    sizes, values, stop = collection_curve(vectors, 2, 0.5)
    assert sizes == [2, 4, 6]
    variances = [1.0, 1.0, 2 / 3]
    np.testing.assert_allclose(values, [0.5 * np.log2(1 + v) for v in variances])
    assert stop == 4  # growth at n = 4 is 0 < 0.5
    # "less than" is strict: a growth of exactly the threshold does not stop; at n = 6 the volume shrinks
    assert collection_curve(vectors, 2, 0.0)[2] == 6
