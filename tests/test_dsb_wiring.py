"""How each class weighting enters training, checked through the public Trainer API against hand computations.

Paper Sec. 4.2 / Alg. 2 (REPLICATION_NOTES section 4): stage 1 = epoch 1, every batch stored, nothing dequeued,
plain loss; stage 2 = epochs 2..n, enqueue the batch and dequeue the oldest, plain loss; stage 3 = epochs > n, the
same, and the loss is re-weighted with 1/S from the pool AFTER this step's update. DSB-1 (App. H.1) uses 1/S'.

The spies (on public surfaces only) and the hand computations (a plain numpy FIFO pool, a plain-loop Eq. 3) are in
tests/dsb_spies.py; exact resume of each weighting is in tests/test_dsb_resume.py.
"""
import numpy as np
import pytest
import torch

from dsb_spies import (ALPHA, COUNTS, EPOCHS, STEPS_PER_EPOCH, assert_history_losses, assert_read_after_update,
                       assert_same_weights, config, expected_dsb_weights, hand_dsb_weights,
                       hand_effective_number_weights, hand_fifo, make_trainer, step_epochs)
from dsb_spies import one_thread  # noqa: F401  (an autouse fixture: torch on one thread in this module)



@pytest.mark.parametrize("name", ["dsb", "dsb1"])
def test_dsb_weights_follow_the_three_stages_and_the_pool_after_the_update(monkeypatch, name):
    trainer, spies = make_trainer(monkeypatch, config(name))
    trainer.fit()
    steps = EPOCHS * STEPS_PER_EPOCH
    # the pool is fed every step of every stage, with the epoch the step belongs to, and 64-d pooled features
    assert [u[0] for u in spies.updates] == step_epochs(steps)
    assert all(u[1].shape[1] == 64 for u in spies.updates)
    # in each step the weights are read after the pool's update and before they multiply the loss
    assert_read_after_update(spies.events, steps)
    expected = expected_dsb_weights(spies, use_interference=name == "dsb")
    assert_same_weights(spies.multiplied, expected, name)
    assert_history_losses(trainer, spies, expected)
    assert [h["stage"] for h in trainer.history] == [1, 2, 3]


@pytest.mark.parametrize("name", ["dsb", "dsb1"])
def test_metric_learning_pools_the_embedding_and_reweights_the_proxy_loss(monkeypatch, name):
    """DSB-NSM (Eq. 5 with 1/S): the pool keeps the 64-d embedding the loss sees (App. F.2), and from stage 3 the
    NormSoftmax per-sample losses are multiplied by the hand-computed weights."""
    cfg = config(name)
    cfg.task, cfg.loss = "metric", "nsm"
    trainer, spies = make_trainer(monkeypatch, cfg)
    trainer.fit()
    for (_, pooled, labels), (embedding, loss_labels, _) in zip(spies.updates, spies.losses):
        np.testing.assert_array_equal(pooled, embedding.astype(np.float32))
        np.testing.assert_array_equal(labels, loss_labels)
    expected = expected_dsb_weights(spies, use_interference=name == "dsb")
    assert_same_weights(spies.multiplied, expected, f"metric {name}")
    assert_history_losses(trainer, spies, expected)


def test_dsb_and_dsb1_differ_on_this_data(monkeypatch):
    """Guards the test above: on this data 1/S and 1/S' weights differ, so swapping them is caught."""
    trainer, spies = make_trainer(monkeypatch, config("dsb"))
    trainer.fit()
    with_w, without_w = expected_dsb_weights(spies, True), expected_dsb_weights(spies, False)
    assert not np.allclose(with_w[-1], without_w[-1], rtol=1e-3)
    # and the pool before this step's update gives other weights than after it
    contents = hand_fifo(spies.updates)
    before = hand_dsb_weights(*contents[-2], len(COUNTS), ALPHA, True)
    assert not np.allclose(before, with_w[-1], rtol=1e-3)


@pytest.mark.parametrize("warmup", [1, 2, 3])
def test_stage_boundaries_of_the_step_api(monkeypatch, warmup):
    """trainer.step(batch, epoch) with a chosen epoch: weights only for epoch > warmup_epochs (n = 1 leaves no
    stage 2), from the pool after this step's update."""
    cfg = config("dsb")
    cfg.warmup_epochs = warmup
    trainer, spies = make_trainer(monkeypatch, cfg)
    half = torch.arange(sum(COUNTS)).reshape(2, -1)  # two batches an epoch
    for epoch in (1, 1, 2, 2, 3, 3, 4, 4):
        trainer.step(half[len(spies.updates) % 2], epoch)
    contents = hand_fifo(spies.updates)
    expected = [hand_dsb_weights(*c, len(COUNTS), ALPHA, True) if u[0] > warmup else None
                for u, c in zip(spies.updates, contents)]
    assert [e is None for e in expected] == [True] * 2 * warmup + [False] * (8 - 2 * warmup)
    assert_same_weights(spies.multiplied, expected, f"warmup {warmup}")


# ---------------------------------------------------------------------------------------------- none, cb, cdb

def hand_cdb_weights(spies, tau=1.0):
    """Per step: None in epoch 1; then (1 - train accuracy of the previous epoch)^tau, normalised to sum to C."""
    expected, previous = [], None
    epochs = step_epochs(len(spies.losses))
    for epoch in range(1, EPOCHS + 1):
        index = [i for i, e in enumerate(epochs) if e == epoch]
        expected += [previous] * len(index)
        correct, seen = np.zeros(len(COUNTS)), np.zeros(len(COUNTS))
        for i in index:
            logits, labels, _ = spies.losses[i]
            for label, hit in zip(labels, logits.argmax(1) == labels):
                correct[label] += hit
                seen[label] += 1
        difficulty = np.maximum(1.0 - correct / seen, 1e-6) ** tau
        previous = difficulty * len(COUNTS) / difficulty.sum()
    return expected


@pytest.mark.parametrize("name, options", [("none", {}), ("cb", {}), ("cb", {"start_epoch": 2, "beta": 0.9}),
                                           ("cdb", {}), ("cdb", {"tau": 2.0})])
def test_count_and_accuracy_weightings_enter_the_loss(monkeypatch, name, options):
    trainer, spies = make_trainer(monkeypatch, config(name, **options))
    trainer.fit()
    epochs = step_epochs(EPOCHS * STEPS_PER_EPOCH)
    if name == "none":
        expected = [None] * len(epochs)
    elif name == "cb":
        weights = hand_effective_number_weights(COUNTS, options.get("beta", 0.9999))
        expected = [weights if e >= options.get("start_epoch", 1) else None for e in epochs]
    else:
        expected = hand_cdb_weights(spies, options.get("tau", 1.0))
    assert_same_weights(spies.multiplied, expected, f"{name} {options}")
    assert_history_losses(trainer, spies, expected)
