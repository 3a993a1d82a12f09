"""Sec. 3.4.1 / App. H.1 on hand-computed cases, and the effective number's closed form."""
import numpy as np
import pytest

from semscale import measure
from semscale.scales import (distance_sums, effective_number, interference, max_normalise, semantic_scales,
                             split_by_count, split_by_scale)


def test_interference_by_hand():
    # Centres on a line at 0, 1, 3: mean distances (1+3)/2=2, (1+2)/2=1.5, (3+2)/2=2.5 -> /2.5
    w_prime = interference(np.array([[0.0], [1.0], [3.0]]))
    np.testing.assert_allclose(w_prime, [0.8, 0.6, 1.0])


def test_semantic_scales_by_hand():
    volumes = np.array([2.0, 4.0, 1.0])
    centres = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])  # distances 5, 5, 10
    scales = semantic_scales(volumes, centres, alpha=2.0)
    np.testing.assert_allclose(scales.s_prime, [0.5, 1.0, 0.25])
    np.testing.assert_allclose(scales.w_prime, [7.5 / 7.5, 5 / 7.5, 7.5 / 7.5])
    np.testing.assert_allclose(scales.w, np.log2(2 + scales.w_prime))
    np.testing.assert_allclose(scales.s, scales.s_prime * np.log2(2 + scales.w_prime))


def test_alpha_one_and_max_normalise_zero():
    np.testing.assert_array_equal(max_normalise(np.zeros(3)), np.zeros(3))
    assert semantic_scales([1.0], [[0.0]], alpha=1).s[0] == pytest.approx(1.0)  # one class: W' = 1, W = log2 2


def test_effective_number_closed_form():
    beta = 0.999
    for n in (1, 2, 10, 1000):
        assert effective_number([n], beta)[0] == pytest.approx(sum(beta ** k for k in range(n)), rel=1e-10)
    assert effective_number([5], 0.0)[0] == 1.0
    # beta -> 1 gives n.
    assert effective_number([50], 1 - 1e-12)[0] == pytest.approx(50, rel=1e-6)


def test_splits():
    np.testing.assert_array_equal(split_by_count([500, 101, 100, 20, 19, 1]),
                                  ["head", "head", "middle", "middle", "tail", "tail"])
    names = split_by_scale(np.arange(1000, dtype=float))
    assert (names == "tail").sum() == 334 and (names == "middle").sum() == 333 and (names == "head").sum() == 333
    assert names[0] == "tail" and names[999] == "head"


def test_measure_table_rank_and_weakest(rng):
    features = np.concatenate([rng.normal(size=(50, 3)) * s + 10 * c for c, s in enumerate([1.0, 0.2, 3.0])])
    labels = np.repeat(np.arange(3), 50)
    table = measure(features, labels, class_names=["a", "b", "c"])
    assert list(table.rank) == [2, 3, 1]
    assert table.weakest(1) == ["b"]
    rows = table.rows()
    assert rows[2]["S_prime"] == 1.0 and rows[0]["N"] == 50


@pytest.mark.parametrize("rows, threads", [(7, "1"), (700, "2")])
def test_distance_sums_against_a_loop(rng, monkeypatch, rows, threads):
    monkeypatch.setenv("SEMSCALE_THREADS", threads)  # 700 rows: chunks run in threads
    a, b = rng.normal(size=(rows, 5)) + 3, rng.normal(size=(40, 5)) + 3
    signs = rng.choice([-1.0, 1.0], size=rows)
    naive = np.array([[np.sqrt(((x - y) ** 2).sum()) for y in b] for x in a])
    row_sums, column_sums = distance_sums(a, b, signs, chunk=64)
    np.testing.assert_allclose(row_sums, naive.sum(1), rtol=1e-12)
    np.testing.assert_allclose(column_sums, signs @ naive, rtol=1e-9, atol=1e-9)
    assert distance_sums(a, b)[1] is None


def test_distance_sums_in_a_forked_child(rng, monkeypatch):
    # The parent's worker threads do not survive fork; the child must start its own instead of waiting forever.
    import multiprocessing

    monkeypatch.setenv("SEMSCALE_THREADS", "2")
    a, b = rng.normal(size=(300, 4)), rng.normal(size=(20, 4))
    expected = distance_sums(a, b, chunk=64)[0]
    with multiprocessing.get_context("fork").Pool(1) as workers:
        result = workers.apply_async(distance_sums, (a, b), {"chunk": 64}).get(timeout=60)
    np.testing.assert_allclose(result[0], expected, rtol=1e-12)


def test_own_columns_make_self_distances_exactly_zero(rng):
    # Centres away from the origin: the expansion |a|^2 + |b|^2 - 2ab leaves about 1e-12 of rounding on a zero
    # distance, whose square root (1e-6) would cost the sums their last digits; own_columns drops those pairs.
    centres = 10.0 + rng.normal(size=(30, 64)) * 0.1
    plain = np.array([sum(np.linalg.norm(a - b) for j, b in enumerate(centres) if j != i)
                      for i, a in enumerate(centres)])
    sums, _ = distance_sums(centres, centres, own_columns=np.arange(30))
    np.testing.assert_allclose(sums, plain, rtol=1e-10)
    # Rows against all centres, with signs: row 0 is centre 3 (own column 3), row 1 is centre 7 given no own
    # column (-1), so its zero distance to column 7 is left to the expansion (about 1e-6 here, not exactly 0).
    distances = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    sums, signed = distance_sums(centres[[3, 7]], centres, row_signs=np.array([1.0, -1.0]),
                                 own_columns=np.array([3, -1]))
    np.testing.assert_allclose(sums[0], plain[3], rtol=1e-10)
    np.testing.assert_allclose(signed, distances[3] - distances[7], rtol=1e-9, atol=1e-5)
    assert signed[3] == pytest.approx(-distances[7, 3], rel=1e-10, abs=0)  # the own pair contributes nothing
