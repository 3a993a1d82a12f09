"""Statistics for claims, one rule for every claim: an interval, and `held` only when its lower bound clears the
claim's threshold (`judge`).

Means over seeds: Student-t intervals, clipped to the quantity's range (accuracies within 0-100, differences of
accuracies within -100..100); clipping keeps at least the t-interval's coverage, since the true mean lies in range.

Correlations: on Fisher's z. A per-seed r comes from C classes, so its standard error on z is 1/sqrt(C-3). The same
C classes are measured in every seed, so that class-sampling error does not shrink with more seeds; the seed spread
adds on top: var(mean z) = 1/(C-3) + s_z^2 / k. Two correlations with a common variable measured on the same classes
(r(S, acc) against r(N, acc)) are dependent; their difference is judged on z with Steiger's (1980) covariance of
the two z's, plus the seed spread of the paired per-seed z differences.
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def mean_interval(values, confidence: float = 0.95, bounds: tuple[float, float] | None = None
                  ) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean, clipped to `bounds`; a single value gives nan bounds."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, float(low), float(high)


def paired_difference(baseline, method, span: float = 100.0) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds of method minus baseline, the two paired by seed (same seed, same data),
    kept inside -span..span (accuracy points: 100; a score in 0..1: 1)."""
    baseline, method = np.asarray(baseline, dtype=np.float64), np.asarray(method, dtype=np.float64)
    if baseline.shape != method.shape:
        raise ValueError(f"paired_difference: {baseline.shape} baseline values against {method.shape}; pair them "
                         "by seed")
    return mean_interval(method - baseline, bounds=(-span, span))


def gain_difference(gain, other_gain, span: float = 100.0) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds of gain - other_gain: two per-seed gains (method minus baseline, each in
    -span..span) of the same runs, e.g. the tail's and the head's ("the tail gains most", Sec. 5.1, Fig. 19). A
    difference of two differences lies in -2 span..2 span."""
    return paired_difference(other_gain, gain, span=2 * span)


def pearson(x, y) -> float:
    """Pearson's r; nan (undefined) when either side is constant, as N is on sample-balanced data."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.pearsonr(x, y)[0])


def spearman(x, y) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y)[0])


def partial_correlation(x, y, control) -> float:
    """r(x, y | control): Pearson's r of the residuals of x and y after a least-squares line on `control`."""
    x, y, z = (np.asarray(v, dtype=np.float64) for v in (x, y, control))
    design = np.column_stack([np.ones_like(z), z])
    residual = [v - design @ np.linalg.lstsq(design, v, rcond=None)[0] for v in (x, y)]
    return pearson(*residual)


def _z(values) -> np.ndarray:
    # r = +-1 exactly (possible with few classes) has infinite z; keep it finite just inside the range.
    return np.arctanh(np.clip(np.asarray(values, dtype=np.float64), -1 + 1e-12, 1 - 1e-12))


def correlation_interval(rs, points: int, confidence: float = 0.95, controls: int = 0
                         ) -> tuple[float, float, float]:
    """(r, low, high) over seeds on Fisher's z: each r from `points` pairs (classes), `controls` variables partialled
    out. r is tanh of the mean z; the interval stays inside (-1, 1). Undefined (nan) rs are dropped; all undefined,
    or points - 3 - controls < 1, gives nan."""
    rs = np.asarray(rs, dtype=np.float64)
    rs = rs[np.isfinite(rs)]
    dof = points - 3 - controls
    if len(rs) == 0 or dof < 1:
        return float("nan"), float("nan"), float("nan")
    z = _z(rs)
    variance = 1.0 / dof + (z.var(ddof=1) / len(z) if len(z) > 1 else 0.0)
    half = stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(variance)
    mean = z.mean()
    return float(np.tanh(mean)), float(np.tanh(mean - half)), float(np.tanh(mean + half))


def steiger_covariance(r1: float, r2: float, r12: float) -> float:
    """Correlation of z(r1) and z(r2) for r1 = r(a, b), r2 = r(a, c) and r12 = r(b, c) (Steiger 1980, Eq. 10-11,
    with the pooled r-bar = (r1 + r2) / 2)."""
    rbar = (r1 + r2) / 2
    psi = r12 * (1 - 2 * rbar ** 2) - 0.5 * rbar ** 2 * (1 - 2 * rbar ** 2 - r12 ** 2)
    return float(psi / (1 - rbar ** 2) ** 2)


def dependent_difference_interval(r1s, r2s, r12s, points: int, confidence: float = 0.95
                                  ) -> tuple[float, float, float]:
    """(dz, low, high): z(r1) - z(r2) for two correlations sharing a variable, measured on the same `points`
    classes in each of k paired seeds. Variance: Steiger's (2 - 2 c) / (points - 3) for the class sampling, plus the
    seed spread of the per-seed differences / k. dz > 0 exactly when r1 > r2, so the claim r1 > r2 is judged on
    the lower bound against 0."""
    r1s, r2s, r12s = (np.asarray(v, dtype=np.float64) for v in (r1s, r2s, r12s))
    keep = np.isfinite(r1s) & np.isfinite(r2s) & np.isfinite(r12s)
    if not keep.any() or points < 4:
        return float("nan"), float("nan"), float("nan")
    r1s, r2s, r12s = r1s[keep], r2s[keep], r12s[keep]
    differences = _z(r1s) - _z(r2s)
    mean_r = [float(np.tanh(_z(v).mean())) for v in (r1s, r2s, r12s)]
    r1, r2, r12 = mean_r
    if 1 - r1 ** 2 - r2 ** 2 - r12 ** 2 + 2 * r1 * r2 * r12 <= 0:
        return float("nan"), float("nan"), float("nan")  # no correlation matrix has these three: inconsistent input
    c = steiger_covariance(*mean_r)
    variance = (2 - 2 * c) / (points - 3)
    if len(differences) > 1:
        variance += differences.var(ddof=1) / len(differences)
    half = stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(max(variance, 0.0))
    mean = float(differences.mean())
    return mean, mean - half, mean + half


def judge(low: float, threshold: float = 0.0, inclusive: bool = False) -> tuple[bool | None, str]:
    """The one rule: held when the interval's lower bound is above the threshold (at or above it for an "at least"
    claim, inclusive=True); (None, why) when there is no interval."""
    if low is None or not np.isfinite(low):
        return None, "no interval (one seed, or the quantity is undefined)"
    if low > threshold or (inclusive and low == threshold):
        return True, ""
    return False, f"lower bound {low:.4g} does not clear {threshold:g}"


def share_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """(share, low, high): Clopper-Pearson interval of a share of runs (how many of k runs agree with a claim)."""
    if trials == 0:
        return float("nan"), float("nan"), float("nan")
    ci = stats.binomtest(successes, trials).proportion_ci(confidence, method="exact")
    return successes / trials, float(ci.low), float(ci.high)


def interval_text(triple, digits: int = 3, signed: bool = False) -> str:
    """'mean [low, high]', or the mean alone when there is no interval."""
    mean, low, high = triple
    sign = "+" if signed else ""
    if not np.isfinite(mean):
        return "undefined"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:{sign}.{digits}f}"
    return f"{mean:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def seeds_needed(effect: float, spread: float, confidence: float = 0.95, most: int = 100) -> int | None:
    """Fewest seeds k whose t-interval of a paired mean excludes 0, for this effect (mean) and seed sd: the
    smallest k >= 2 with t(k-1) * sd / sqrt(k) < |effect|. None when even `most` seeds do not suffice."""
    for k in range(2, most + 1):
        if stats.t.ppf(0.5 + confidence / 2, k - 1) * spread / np.sqrt(k) < abs(effect):
            return k
    return None
