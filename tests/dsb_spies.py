"""Spies and hand computations for the DSB wiring tests (tests/test_dsb_wiring.py, tests/test_dsb_resume.py).

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
