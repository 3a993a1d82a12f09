"""Exact resume of every weighting (Alg. 2's pool included): a run stopped as a kill would stop it and resumed
from its last checkpoint multiplies the same weights and ends in the same state as a run never stopped; checked
through the public Trainer API with the spies of tests/dsb_spies.py.
"""
import numpy as np
import pytest
import torch

from dsb_spies import (ALPHA, COUNTS, EPOCHS, STEPS_PER_EPOCH, Stop, assert_same_weights, config, hand_dsb_weights,
                       hand_fifo, make_trainer)
from dsb_spies import one_thread  # noqa: F401  (an autouse fixture: torch on one thread in this module)

WEIGHTINGS = [("none", {}), ("cb", {"start_epoch": 3, "beta": 0.9}), ("dsb", {}), ("dsb1", {}), ("cdb", {})]


@pytest.mark.parametrize("stop_at_step", [STEPS_PER_EPOCH, STEPS_PER_EPOCH + 1, 2 * STEPS_PER_EPOCH])
@pytest.mark.parametrize("name, options", WEIGHTINGS)
def test_resume_after_a_stop_trains_as_an_uninterrupted_run(monkeypatch, tmp_path, name, options, stop_at_step):
    """Stopped at the first step of epoch 2, partway through epoch 2, or at the first step of epoch 3: the run
    resumes from the last finished epoch and multiplies the same weights as a run never stopped."""
    stop_after = stop_at_step // STEPS_PER_EPOCH  # finished epochs: a partial epoch is not checkpointed
    cfg = config(name, **options)
    straight, straight_spies = make_trainer(monkeypatch, cfg)
    straight.fit()
    monkeypatch.undo()

    stopped, _ = make_trainer(monkeypatch, cfg, tmp_path / "run.pt", stop_at_step=stop_at_step)
    with pytest.raises(Stop):
        stopped.fit()
    monkeypatch.undo()

    resumed, spies = make_trainer(monkeypatch, cfg, tmp_path / "run.pt")
    assert resumed.epoch == stop_after
    assert [h["epoch"] for h in resumed.history] == list(range(1, stop_after + 1))
    resumed.fit()
    # the remaining steps multiply exactly the weights the uninterrupted run multiplied
    tail = slice(stop_after * STEPS_PER_EPOCH, None)
    assert_same_weights(spies.multiplied, straight_spies.multiplied[tail], f"{name} resumed after {stop_after}")
    # and end in the same state: history, model, pool contents, weighting state
    for a, b in zip(resumed.history, straight.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)
    for (key, a), b in zip(resumed.network.state_dict().items(), straight.network.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=key)
    if straight.pool is not None:
        assert_pool_contents_equal(resumed.pool, straight.pool)
        np.testing.assert_allclose(resumed.pool.weights(name == "dsb"), straight.pool.weights(name == "dsb"),
                                   rtol=1e-6)
    assert_states_equal(resumed.weighting.state_dict(), straight.weighting.state_dict())
    # what the weighting would give the next epoch is the same too
    a, b = resumed.weighting.class_weights(EPOCHS + 1), straight.weighting.class_weights(EPOCHS + 1)
    assert_same_weights([a], [b], f"{name} epoch {EPOCHS + 1}")


@pytest.mark.parametrize("name", ["dsb", "dsb1"])
def test_resume_when_a_step_leaves_classes_untouched(monkeypatch, tmp_path, name):
    """Twelve classes and batches of 2: each step enqueues and dequeues at most four classes, too few for the pool
    to recompute every centre distance (it does when the touched classes' new and old centres are at least as many
    as the present classes: 2 x 4 < 12), so the others' scales and distance sums must come back from the
    checkpoint."""
    counts, batch = (5,) * 12, 2
    steps_per_epoch = sum(counts) // batch
    cfg = config(name, batch_size=batch)
    straight, straight_spies = make_trainer(monkeypatch, cfg, counts=counts)
    straight.fit()
    monkeypatch.undo()
    stopped, _ = make_trainer(monkeypatch, cfg, tmp_path / "run.pt", 2 * steps_per_epoch, counts)
    with pytest.raises(Stop):
        stopped.fit()
    monkeypatch.undo()
    resumed, spies = make_trainer(monkeypatch, cfg, tmp_path / "run.pt", counts=counts)
    resumed.fit()
    assert_same_weights(spies.multiplied, straight_spies.multiplied[2 * steps_per_epoch:], name)
    np.testing.assert_allclose(resumed.pool.weights(name == "dsb"), straight.pool.weights(name == "dsb"),
                               rtol=1e-6)


def test_resume_restores_the_pool_the_hand_model_predicts(monkeypatch, tmp_path):
    """After a stop at the end of epoch 2 (stage 2), the resumed pool holds epoch 2's batches, in order, and
    epoch 3's first step re-weights with the pool after dequeuing the oldest of them."""
    cfg = config("dsb")
    stopped, stopped_spies = make_trainer(monkeypatch, cfg, tmp_path / "run.pt", stop_at_step=2 * STEPS_PER_EPOCH)
    with pytest.raises(Stop):
        stopped.fit()
    monkeypatch.undo()
    resumed, spies = make_trainer(monkeypatch, cfg, tmp_path / "run.pt")
    features, labels = hand_fifo(stopped_spies.updates[:2 * STEPS_PER_EPOCH])[-1]
    pool_features, pool_labels = resumed.pool.contents()
    np.testing.assert_array_equal(pool_labels, labels)
    np.testing.assert_allclose(pool_features, features, rtol=0, atol=0)
    resumed.fit()
    contents = hand_fifo(stopped_spies.updates[:2 * STEPS_PER_EPOCH] + spies.updates)
    expected = hand_dsb_weights(*contents[2 * STEPS_PER_EPOCH], len(COUNTS), ALPHA, True)
    np.testing.assert_allclose(spies.multiplied[0], expected, rtol=1e-6)


def assert_pool_contents_equal(a, b):
    fa, la = a.contents()
    fb, lb = b.contents()
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_allclose(fa, fb, rtol=1e-5, atol=1e-6)


def assert_states_equal(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_states_equal(a[key], b[key])
    elif a is None or isinstance(a, (str, bool, int)):
        assert a == b
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=1e-6)
