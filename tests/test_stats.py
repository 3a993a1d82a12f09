"""Claim statistics against closed forms, scipy, plain loops and Monte Carlo (never against the code itself)."""
import numpy as np
import pytest
from scipy import stats as sps

from semscale.stats import (correlation_interval, dependent_difference_interval, judge, mean_interval,
                            partial_correlation, pearson, seeds_needed, steiger_covariance)


def test_mean_interval_against_scipy():
    values = [0.61, 0.64, 0.58, 0.66]
    mean, low, high = mean_interval(values)
    ref = sps.t.interval(0.95, 3, loc=np.mean(values), scale=sps.sem(values))
    assert mean == pytest.approx(np.mean(values)) and (low, high) == pytest.approx(ref)
    assert np.isnan(mean_interval([1.0])[1])


def test_mean_interval_stays_in_range():
    # Accuracies near 100 over 3 seeds: the t-interval passes 100; the clipped one stops there, the low side is kept.
    values = [99.0, 99.9, 96.0]
    _, low, high = mean_interval(values, bounds=(0, 100))
    ref = sps.t.interval(0.95, 2, loc=np.mean(values), scale=sps.sem(values))
    assert ref[1] > 100 and high == 100 and low == pytest.approx(ref[0])


def test_pearson_undefined_for_constant():
    assert np.isnan(pearson([5, 5, 5], [0.1, 0.5, 0.9]))
    assert pearson([1, 2, 3], [2, 4, 6.5]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1])


def test_correlation_interval_one_seed_is_fisher():
    # One r from C = 10 classes: tanh(atanh(r) -+ 1.959964 / sqrt(7)), the textbook interval.
    r, low, high = correlation_interval([0.8], points=10)
    half = 1.959963984540054 / np.sqrt(7)
    assert r == pytest.approx(0.8)
    assert (low, high) == pytest.approx((np.tanh(np.arctanh(0.8) - half), np.tanh(np.arctanh(0.8) + half)))


def test_correlation_interval_adds_seed_spread_and_stays_in_range():
    rs = [0.95, 0.2, 0.9]
    z = np.arctanh(rs)
    r, low, high = correlation_interval(rs, points=10)
    half = 1.959963984540054 * np.sqrt(1 / 7 + np.var(z, ddof=1) / 3)
    assert r == pytest.approx(np.tanh(z.mean()))
    assert (low, high) == pytest.approx((np.tanh(z.mean() - half), np.tanh(z.mean() + half)))
    assert -1 < low < high < 1
    # A partialled-out variable costs one degree of freedom.
    assert correlation_interval([0.8], points=10, controls=1)[1] < correlation_interval([0.8], points=10)[1]
    assert np.isnan(correlation_interval([np.nan, np.nan], points=10)[0])
    assert np.isnan(correlation_interval([0.5], points=3)[1])


def test_correlation_interval_covers_at_its_level():
    # Monte Carlo: bivariate normal with rho = 0.6, 20 points, one seed; coverage about 95%.
    rng = np.random.default_rng(0)
    rho, hits, trials = 0.6, 0, 2000
    cov = [[1, rho], [rho, 1]]
    for _ in range(trials):
        x = rng.multivariate_normal([0, 0], cov, size=20)
        _, low, high = correlation_interval([np.corrcoef(x.T)[0, 1]], points=20)
        hits += low <= rho <= high
    assert 0.93 < hits / trials < 0.97


def test_steiger_covariance_matches_simulation():
    # var(z(r_ab) - z(r_ac)) over many samples of n points ~ (2 - 2 c) / (n - 3).
    rng = np.random.default_rng(1)
    r_ab, r_ac, r_bc, n = 0.7, 0.4, 0.5, 60
    cov = np.array([[1, r_ab, r_ac], [r_ab, 1, r_bc], [r_ac, r_bc, 1]])
    diffs = []
    for _ in range(4000):
        x = rng.multivariate_normal(np.zeros(3), cov, size=n)
        c = np.corrcoef(x.T)
        diffs.append(np.arctanh(c[0, 1]) - np.arctanh(c[0, 2]))
    expected = (2 - 2 * steiger_covariance(r_ab, r_ac, r_bc)) / (n - 3)
    assert np.var(diffs) == pytest.approx(expected, rel=0.08)
    # Independent predictors and no common correlation: the two z's are uncorrelated.
    assert steiger_covariance(0.0, 0.0, 0.0) == 0.0
    assert steiger_covariance(0.0, 0.0, 0.5) == pytest.approx(0.5)


def test_dependent_difference_closed_form_and_sign():
    # One seed: dz = atanh(r1) - atanh(r2), half-width 1.96 sqrt((2 - 2c) / (C - 3)).
    r1, r2, r12, classes = 0.9, 0.6, 0.7, 10
    dz, low, high = dependent_difference_interval([r1], [r2], [r12], classes)
    half = 1.959963984540054 * np.sqrt((2 - 2 * steiger_covariance(r1, r2, r12)) / 7)
    assert dz == pytest.approx(np.arctanh(r1) - np.arctanh(r2))
    assert (low, high) == pytest.approx((dz - half, dz + half))
    # Swapping the two correlations mirrors the interval.
    mirrored = dependent_difference_interval([r2], [r1], [r12], classes)
    assert mirrored == pytest.approx((-dz, -high, -low))
    # Two predictors that agree closely (r12 near 1) make the comparison sharper than nearly unrelated ones.
    sharp = dependent_difference_interval([r1], [r2], [0.85], classes)
    loose = dependent_difference_interval([r1], [r2], [0.3], classes)
    assert sharp[1] > loose[1]


def test_dependent_difference_refuses_impossible_correlations():
    # r1 = 0.95, r2 = 0.7 and r12 = 0 cannot come from one data set (the 3x3 matrix has a negative determinant).
    assert np.isnan(dependent_difference_interval([0.95], [0.7], [0.0], 10)[1])


def test_dependent_difference_adds_paired_seed_spread():
    r1, r2, r12 = [0.9, 0.8, 0.85], [0.5, 0.7, 0.3], [0.6, 0.6, 0.6]
    dz, low, _ = dependent_difference_interval(r1, r2, r12, 10)
    d = np.arctanh(r1) - np.arctanh(r2)
    mean_r = [np.tanh(np.arctanh(v).mean()) for v in (r1, r2, r12)]
    variance = (2 - 2 * steiger_covariance(*mean_r)) / 7 + np.var(d, ddof=1) / 3
    assert dz == pytest.approx(d.mean()) and low == pytest.approx(d.mean() - 1.959963984540054 * np.sqrt(variance))


def test_partial_correlation_against_formula():
    rng = np.random.default_rng(2)
    x, y, z = rng.normal(size=(3, 40))
    y = y + x + z
    rxy, rxz, ryz = (np.corrcoef(a, b)[0, 1] for a, b in ((x, y), (x, z), (y, z)))
    expected = (rxy - rxz * ryz) / np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    assert partial_correlation(x, y, z) == pytest.approx(expected)


def test_judge_uses_the_lower_bound():
    assert judge(0.01) == (True, "")
    assert judge(-0.01)[0] is False and judge(0.0)[0] is False
    assert judge(0.95, 0.9)[0] is True and judge(0.85, 0.9)[0] is False
    assert judge(float("nan"))[0] is None


def test_seeds_needed_against_a_loop():
    # Effect 1.4, sd 1.0: t(k-1) * 1 / sqrt(k) < 1.4 first at k = 5 (t_{0.975,4} = 2.776 -> 1.24; k = 4: 1.59).
    assert seeds_needed(1.4, 1.0) == 5
    assert seeds_needed(10.0, 1.0) == 2
    assert seeds_needed(0.0, 1.0) is None


def test_paired_difference_is_the_t_interval_of_the_per_seed_differences_by_hand():
    from semscale.stats import paired_difference

    ce, dsb = [70.0, 72.0, 71.0], [71.0, 74.0, 71.5]       # differences 1, 2, 0.5: mean 7/6, sd 0.7638
    mean, low, high = paired_difference(ce, dsb)
    half = 4.302652729911275 * 0.7637626158259734 / 3 ** 0.5  # t(0.975, 2) * sd / sqrt(3)
    assert (mean, low, high) == pytest.approx((7 / 6, 7 / 6 - half, 7 / 6 + half))
    assert paired_difference([0.0, 0.0], [99.0, 100.0])[2] == 100.0  # kept inside -100..100
    with pytest.raises(ValueError, match="pair them by seed"):
        paired_difference([1.0, 2.0], [1.0])


def test_gain_difference_is_the_t_interval_of_the_per_seed_gap_by_hand():
    from semscale.stats import gain_difference

    tail, head = [8.0, 8.5, 7.5], [1.0, 1.5, 2.0]             # gaps 7, 7, 5.5: mean 6.5, sd 0.8660
    mean, low, high = gain_difference(tail, head)
    half = 4.302652729911275 * 0.8660254037844386 / 3 ** 0.5  # t(0.975, 2) * sd / sqrt(3)
    assert (mean, low, high) == pytest.approx((6.5, 6.5 - half, 6.5 + half))
    assert gain_difference(head, tail)[0] == pytest.approx(-6.5)  # the order: gain minus other gain
    # Two gains of accuracy points lie in -100..100, so their gap in -200..200 (beyond 100, unlike a gain).
    half = 12.706204736174707 * 0.5                            # t(0.975, 1) * sd / sqrt(2), sd of (198, 199)
    assert gain_difference([99.0, 100.0], [-99.0, -99.0]) == pytest.approx((198.5, 198.5 - half, 200.0))
