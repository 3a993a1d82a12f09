"""How each class weighting enters training, checked through the public Trainer API against hand computations.

Paper Sec. 4.2 / Alg. 2 (REPLICATION_NOTES section 4): stage 1 = epoch 1, every batch stored, nothing dequeued,
plain loss; stage 2 = epochs 2..n, enqueue the batch and dequeue the oldest, plain loss; stage 3 = epochs > n, the
same, and the loss is re-weighted with 1/S from the pool AFTER this step's update. DSB-1 (App. H.1) uses 1/S'.

Spies sit on public surfaces only (FeaturePool.update, the weighting's class_weights, CrossEntropy.forward, every
semscale module's `weighted_mean`), so the tests survive a rewrite of the training loop. The expected weights come
from a plain numpy model of the FIFO pool and a plain-loop Eq. 3, never from semscale's own scale code.
"""
import sys

import numpy as np
import pytest
import torch

import semscale.weighting as weighting_module
from hand_formulas import hand_volume
from semscale.losses import CrossEntropy, NormSoftmaxLoss
from semscale.pool import FeaturePool
from semscale.train import TrainConfig, Trainer

COUNTS = (14, 10, 6)          # three classes, long-tailed, so 1/E_n, 1/S and accuracies differ between classes
BATCH, WARMUP, EPOCHS, ALPHA = 10, 2, 3, 1.5
STEPS_PER_EPOCH = -(-sum(COUNTS) // BATCH)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread is fastest, and on a shared machine extra threads only spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def host(values, dtype=None) -> np.ndarray:
    """A copy on the host of a numpy array or a torch tensor on any device."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.array(values, dtype=dtype)


class Stop(Exception):
    """Raised by a spy to stop training partway, as a kill would (the last checkpoint is what survives)."""


def tiny_data(counts=COUNTS):
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(len(counts)), counts)
    # class-dependent brightness so that there is something to learn and the classes' features differ
    images = rng.uniform(0, 0.5, size=(len(labels), 8, 8, 1)) + 0.2 * labels[:, None, None, None]
    return images.astype(np.float32), labels


def config(weighting, batch_size=BATCH, **options):
    return TrainConfig(width=2, epochs=EPOCHS, batch_size=batch_size, warmup_epochs=WARMUP, alpha=ALPHA, lr=0.05,
                       weighting=weighting, weighting_options=options, seed=5)


# ---------------------------------------------------------------------------------------------- hand computations

def hand_dsb_weights(features, labels, num_classes, alpha, use_interference) -> np.ndarray:
    features = features.astype(np.float64)
    volumes = np.array([hand_volume(features[labels == c]) for c in range(num_classes)])
    s_prime = volumes / volumes.max()
    centres = np.array([features[labels == c].mean(0) for c in range(num_classes)])
    w_prime = np.zeros(num_classes)
    for i in range(num_classes):
        for j in range(num_classes):
            w_prime[i] += np.sqrt(np.sum((centres[i] - centres[j]) ** 2)) / (num_classes - 1)
    w_prime /= w_prime.max()
    s = s_prime * np.log2(alpha + w_prime) if use_interference else s_prime
    inverse = 1.0 / s
    return inverse * num_classes / inverse.sum()


def hand_fifo(updates):
    """Pool contents after each update, by Alg. 2: epoch 1 only enqueues, later epochs enqueue and dequeue."""
    queue, after_each = [], []
    for epoch, features, labels in updates:
        if epoch >= 2 and queue:
            queue.pop(0)
        queue.append((features, labels))
        after_each.append((np.concatenate([q[0] for q in queue]), np.concatenate([q[1] for q in queue])))
    return after_each


def hand_effective_number_weights(counts, beta):
    effective = np.array([(1 - beta ** n) / (1 - beta) for n in counts])
    inverse = 1.0 / effective
    return inverse * len(counts) / inverse.sum()


# ---------------------------------------------------------------------------------------------- spies

class Spies:
    """Records, in call order: pool updates, class-weight reads, per-sample losses and the weights multiplied in."""

    def __init__(self, monkeypatch, trainer, stop_at_step=None, loss_class=CrossEntropy):
        self.events, self.updates, self.reads, self.losses, self.multiplied = [], [], [], [], []
        spies = self
        original_update = FeaturePool.update

        def update(pool, features, labels, epoch):
            spies.events.append("update")
            spies.updates.append((epoch, host(features, np.float32), host(labels)))
            return original_update(pool, features, labels, epoch)

        monkeypatch.setattr(FeaturePool, "update", update)
        weighting_class = type(trainer.weighting)
        original_read = weighting_class.class_weights

        def class_weights(weighting, epoch):
            result = original_read(weighting, epoch)
            spies.events.append("read")
            spies.reads.append((epoch, None if result is None else host(result, np.float64)))
            return result

        monkeypatch.setattr(weighting_class, "class_weights", class_weights)
        original_forward = loss_class.forward

        def forward(module, logits, labels):
            if stop_at_step is not None and len(spies.losses) == stop_at_step:
                raise Stop
            out = original_forward(module, logits, labels)
            spies.losses.append((logits.detach().numpy().copy(), labels.numpy().copy(),
                                 out.detach().double().numpy().copy()))
            return out

        monkeypatch.setattr(loss_class, "forward", forward)
        original_mean = weighting_module.weighted_mean

        def weighted_mean(per_sample, labels, class_weights):
            spies.events.append("multiply")
            spies.multiplied.append(None if class_weights is None else host(class_weights, np.float64))
            return original_mean(per_sample, labels, class_weights)

        # every module that imported the function by name (train.py today, an engine package after a rewrite)
        for name, module in list(sys.modules.items()):
            if name.startswith("semscale") and getattr(module, "weighted_mean", None) is original_mean:
                monkeypatch.setattr(module, "weighted_mean", weighted_mean)


def make_trainer(monkeypatch, cfg, checkpoint=None, stop_at_step=None, counts=COUNTS):
    images, labels = tiny_data(counts)
    torch.manual_seed(0)
    trainer = Trainer(cfg, images, labels, len(counts), checkpoint=checkpoint, progress=False)
    loss_class = {"ce": CrossEntropy, "nsm": NormSoftmaxLoss}[cfg.loss]
    return trainer, Spies(monkeypatch, trainer, stop_at_step, loss_class)


def step_epochs(steps: int, first_epoch: int = 1):
    return [first_epoch + i // STEPS_PER_EPOCH for i in range(steps)]


def assert_history_losses(trainer, spies, expected_weights, first_epoch=1):
    """The loss trained on is mean_i w[y_i] l_i with the expected weights (or the plain mean): each epoch's
    recorded loss is the mean of its steps' losses, recomputed here from the spied per-sample losses."""
    per_step = []
    for (_, labels, per_sample), weights in zip(spies.losses, expected_weights):
        per_step.append(per_sample.mean() if weights is None else (per_sample * weights[labels]).mean())
    for epoch in range(first_epoch, EPOCHS + 1):
        index = [i for i, e in enumerate(step_epochs(len(per_step), first_epoch)) if e == epoch]
        record = next(h for h in trainer.history if h["epoch"] == epoch)
        assert record["loss"] == pytest.approx(np.mean([per_step[i] for i in index]), rel=1e-5), epoch


def assert_read_after_update(events, steps):
    """Split the call record at each pool update: every step starts with the update, then reads the weights, then
    multiplies them into the loss exactly once."""
    starts = [i for i, e in enumerate(events) if e == "update"]
    assert len(starts) == steps and starts[0] == 0
    for start, end in zip(starts, starts[1:] + [len(events)]):
        step = events[start:end]
        assert step.count("multiply") == 1 and "read" in step[:step.index("multiply")], step


def assert_same_weights(actual, expected, where):
    assert len(actual) == len(expected), where
    for step, (a, e) in enumerate(zip(actual, expected)):
        if e is None:
            assert a is None, f"{where}: step {step} re-weighted, the plain loss was expected"
        else:
            assert a is not None, f"{where}: step {step} used the plain loss, weights were expected"
            np.testing.assert_allclose(a, e, rtol=1e-6, err_msg=f"{where}: step {step}")


# ---------------------------------------------------------------------------------------------- DSB and DSB-1

def expected_dsb_weights(spies, use_interference):
    """Per step: None in stages 1-2, else hand 1/S (1/S') of the FIFO pool after this step's update."""
    contents = hand_fifo(spies.updates)
    expected = []
    for epoch, (features, labels) in zip(step_epochs(len(contents)), contents):
        expected.append(hand_dsb_weights(features, labels, len(COUNTS), ALPHA, use_interference)
                        if epoch > WARMUP else None)
    return expected


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


# ---------------------------------------------------------------------------------------------- resume

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
    """Six classes and batches of 2: each step enqueues and dequeues at most four classes, so the others' scales
    and centre distances must come back from the checkpoint, not from a recomputation."""
    counts, batch = (5,) * 6, 2
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
