"""Each experiment's claim logic on constructed inputs whose verdict is known (no training)."""
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))

import bench_dsb  # noqa: E402
import class_bias  # noqa: E402
import data_tools  # noqa: E402
import marginal_effect  # noqa: E402
import pearson as pearson_experiment  # noqa: E402

from semscale.stats import judge, paired_difference, pearson, share_interval  # noqa: E402

CFG = {"claim_alpha_long_tailed": 2.0, "claim_alpha_balanced": 1.0}


def _verdicts(claims):
    return {c["id"]: judge(c["triple"][1], c.get("threshold", 0.0))[0] for c in claims}


def _runs_from_classes(kind, space, accuracy_by_seed, predictors_by_seed):
    """runs and pairs rows exactly as pearson.main builds them, from per-class arrays."""
    runs, pairs = [], []
    claimed = "S alpha=2" if kind == "long-tailed" else "S alpha=1"
    for seed, (accuracy, values) in enumerate(zip(accuracy_by_seed, predictors_by_seed)):
        where = {"set": kind, "dataset": "x", "backbone": "B", "index": 0, "seed": seed, "space": space}
        runs += [{**where, "predictor": name, "r": pearson(v, accuracy)} for name, v in values.items()]
        pairs += [{**where, "predictor": name, "r with S": pearson(values[claimed], values[name])}
                  for name in ("N", "E_n")]
    return runs, pairs


def test_pearson_long_tailed_claim_uses_alpha_two_and_is_paired(rng):
    # 10 classes. Accuracy follows S (alpha 2) closely; N and E_n only loosely; S at alpha 1 is anti-correlated
    # (a claim reading the wrong alpha would flip).
    accuracy_by_seed, values_by_seed = [], []
    base = rng.normal(size=10)
    for _ in range(3):
        accuracy = base + rng.normal(0, 0.05, 10)
        counts = base + rng.normal(0, 2.0, 10)
        values_by_seed.append({"N": counts, "E_n": counts + rng.normal(0, 0.1, 10),
                               "S alpha=2": base + rng.normal(0, 0.02, 10), "S alpha=1": -base, "S'": base})
        accuracy_by_seed.append(accuracy)
    runs, pairs = _runs_from_classes("long-tailed", "sample", accuracy_by_seed, values_by_seed)
    verdicts = _verdicts(pearson_experiment.claims(runs, pairs, CFG, 10))
    assert verdicts == {"lt_S_beats_N_B_sample": True, "lt_S_beats_E_n_B_sample": True}
    # The same numbers with S and N swapped: S is the loose one, the claim is not held.
    swapped = [{**v, "N": v["S alpha=2"], "E_n": v["S alpha=2"] + 0.01 * np.arange(10),
                "S alpha=2": v["N"]} for v in values_by_seed]
    runs, pairs = _runs_from_classes("long-tailed", "sample", accuracy_by_seed, swapped)
    assert set(_verdicts(pearson_experiment.claims(runs, pairs, CFG, 10)).values()) == {False}


def test_pearson_long_tailed_claim_reads_how_alike_the_predictors_are():
    # r(S, acc) = 0.8 against r(N, acc) = 0.4 on 10 classes: decided by how alike S and N are across classes
    # (Steiger): predictors correlated 0.8 make the comparison sharp enough (held), 0.2 do not.
    def built(r12):
        where = {"set": "long-tailed", "dataset": "x", "backbone": "B", "index": 0, "seed": 0, "space": "sample"}
        runs = [{**where, "predictor": "S alpha=2", "r": 0.8}, {**where, "predictor": "N", "r": 0.4},
                {**where, "predictor": "E_n", "r": 0.4}]
        return runs, [{**where, "predictor": name, "r with S": r12} for name in ("N", "E_n")]
    assert set(_verdicts(pearson_experiment.claims(*built(0.8), CFG, 10)).values()) == {True}
    assert set(_verdicts(pearson_experiment.claims(*built(0.2), CFG, 10)).values()) == {False}


def test_pearson_balanced_claim_needs_r_above_063_with_ten_classes():
    # r = 0.5 in every seed: z = 0.549 < 1.96 / sqrt(7) = 0.741, so not held however many seeds agree;
    # r = 0.8: z = 1.099 > 0.741, held.
    def runs_with(r_value, seeds=5):
        return [{"set": "balanced", "dataset": "x", "backbone": "B", "index": 0, "seed": s, "space": "feature",
                 "predictor": name, "r": r_value if name != "N" else float("nan")}
                for s in range(seeds) for name in ("N", "S'", "S alpha=1")]
    assert set(_verdicts(pearson_experiment.claims(runs_with(0.5), [], CFG, 10)).values()) == {False}
    assert set(_verdicts(pearson_experiment.claims(runs_with(0.8), [], CFG, 10)).values()) == {True}
    assert set(_verdicts(pearson_experiment.claims(runs_with(0.8), [], CFG, 5)).values()) == {False}


def test_dsb_gain_is_paired_by_seed():
    # Seeds differ by 10 points but DSB-CE is 1 point better in each: the paired interval clears 0, an unpaired
    # comparison (or the wrong sign) would not.
    ce = np.array([70.0, 80.0, 90.0])
    dsb = ce + np.array([1.0, 1.1, 0.9])
    mean, low, high = paired_difference(ce, dsb)
    assert mean == pytest.approx(1.0) and judge(low)[0] is True
    ref = sps.t.interval(0.95, 2, loc=1.0, scale=sps.sem([1.0, 1.1, 0.9]))
    assert (low, high) == pytest.approx(ref)
    assert judge(paired_difference(dsb, ce)[1])[0] is False
    # Within -100..100 however wild the seeds.
    assert paired_difference([0, 0], [100, 0])[1:] == (-100, 100)


SIZES = [50, 100, 200, 400, 800, 1500, 3000, 6000]


def test_marginal_effect_partial_correlation_separates_scale_from_count(rng):
    log_m = np.log(SIZES)
    total = np.array([3.0, 4.5, 5.1, 6.8, 7.0, 8.6, 8.7, 9.9])  # rises with m, but not as log m does
    # Accuracy driven by the sum of S' (not by log m): both claims held.
    driven_by_scale = [total / 10 + rng.normal(0, 1e-4, 8) for _ in range(3)]
    verdicts = _verdicts(marginal_effect.accuracy_claims("B", SIZES, total, driven_by_scale, 0.9))
    assert verdicts == {"sum_tracks_accuracy_B": True, "scale_beyond_count_B": True}
    # Accuracy driven by log m alone (plus noise): r(sum S', top-1) is still high, the partial correlation is not.
    driven_by_count = [0.1 * log_m + rng.normal(0, 1e-3, 8) for _ in range(3)]
    claims = {c["id"]: c for c in marginal_effect.accuracy_claims("B", SIZES, total, driven_by_count, 0.9)}
    assert pearson(total, driven_by_count[0]) > 0.9
    assert judge(claims["scale_beyond_count_B"]["triple"][1])[0] is False
    assert "r(log m, top-1) = 1.000" in claims["sum_tracks_accuracy_B"]["note"]


def test_weak_class_agreement():
    assert class_bias.mean_pairwise_jaccard([(0, 1, 2), (0, 1, 3)]) == pytest.approx(0.5)
    assert class_bias.mean_pairwise_jaccard([(0, 1, 2), (0, 1, 3), (4, 5, 6)]) == pytest.approx(0.5 / 3)
    same = [(3, 1, 7)] * 6
    assert class_bias.agreement_interval(same) == (1.0, 1.0, 1.0)
    assert judge(class_bias.agreement_interval(same)[1], 0.5)[0] is True
    scattered = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 4, 8), (1, 5, 9), (2, 6, 9)]
    assert judge(class_bias.agreement_interval(scattered)[1], 0.5)[0] is False
    assert np.isnan(class_bias.agreement_interval([(0, 1, 2)] * 2)[1])  # two runs: no interval
    # Disjoint weak classes: every pair of distinct runs overlaps 0, so every resample does (a run is not
    # compared with its own copy).
    assert class_bias.agreement_interval([(0, 1, 2), (3, 4, 5), (6, 7, 8)]) == (0.0, 0.0, 0.0)


def test_closeness_share_of_runs():
    # Clopper-Pearson with every run agreeing: low = 0.025^(1/n). 4 of 4 is 0.398 (not held), 6 of 6 is 0.541.
    assert share_interval(4, 4)[1] == pytest.approx(0.025 ** 0.25)
    assert judge(share_interval(4, 4)[1], 0.5)[0] is False
    assert judge(share_interval(6, 6)[1], 0.5)[0] is True
    assert judge(share_interval(5, 6)[1], 0.5)[0] is False


def test_pizza_claims_pair_by_seed_not_by_row_order():
    rows = [{"seed": 1, "method": "random", "mean class volume": 50.0, "top1": 0.70},
            {"seed": 0, "method": "pizza", "mean class volume": 12.0, "top1": 0.61},
            {"seed": 2, "method": "pizza", "mean class volume": 91.0, "top1": 0.80},
            {"seed": 0, "method": "random", "mean class volume": 10.0, "top1": 0.60},
            {"seed": 1, "method": "pizza", "mean class volume": 52.5, "top1": 0.69},
            {"seed": 2, "method": "random", "mean class volume": 89.0, "top1": 0.81}]
    claims = {c["id"]: c for c in data_tools.pizza_claims(rows)}
    assert claims["pizza_volume"]["triple"][0] == pytest.approx(np.mean([2.0, 2.5, 2.0]))
    assert judge(claims["pizza_volume"]["triple"][1])[0] is True
    assert claims["pizza_top-1"]["triple"][0] == pytest.approx(np.mean([0.01, -0.01, -0.01]))
    assert judge(claims["pizza_top-1"]["triple"][1])[0] is False


def test_speed_claim_reads_the_lower_bound():
    assert bench_dsb.speed_held({"ratio": 0.99, "ratio low": 0.97}) is False  # the mean alone would pass
    assert bench_dsb.speed_held({"ratio": 0.99, "ratio low": 0.98}) is True
    assert bench_dsb.speed_held({"ratio": 0.99, "ratio low": float("nan")}) is None


def test_share_claim_reads_the_upper_bound():
    held, why = bench_dsb.share_judged({"re-weighting share": 0.015, "share high": 0.021})
    assert held is False and "0.021" in why  # the mean alone would pass
    assert bench_dsb.share_judged({"re-weighting share": 0.015, "share high": 0.02})[0] is True
    assert bench_dsb.share_judged({"re-weighting share": 0.015, "share high": float("nan")})[0] is None
