import numpy as np
import pytest
from scipy import stats as sps

from semscale.stats import mean_interval, pearson


def test_mean_interval_against_scipy():
    values = [0.61, 0.64, 0.58, 0.66]
    mean, low, high = mean_interval(values)
    ref = sps.t.interval(0.95, 3, loc=np.mean(values), scale=sps.sem(values))
    assert mean == pytest.approx(np.mean(values)) and (low, high) == pytest.approx(ref)
    assert np.isnan(mean_interval([1.0])[1])


def test_pearson_undefined_for_constant():
    assert np.isnan(pearson([5, 5, 5], [0.1, 0.5, 0.9]))
    assert pearson([1, 2, 3], [2, 4, 6.5]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1])
