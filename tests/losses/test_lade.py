"""LADE against plain loops on a 3-class, 5-sample batch: LADE-CE, the DV terms, LADER with ReMINE, PC softmax."""
import math

import pytest
import torch

from semscale.losses import LADELoss, build_loss, pc_softmax_logits
from semscale.weighting import weighted_mean

COUNTS = [60, 30, 10]  # p_s = 0.6, 0.3, 0.1
LOGITS = [[2.0, 0.5, -1.0], [0.3, 1.2, 0.1], [-0.5, 0.2, 1.5], [1.0, 1.0, 0.0], [0.0, -0.7, 0.4]]


def log_softmax_row(row, j):
    m = max(row)
    return row[j] - m - math.log(sum(math.exp(v - m) for v in row))


def hand_lader(logits, labels, counts, remine_lambda, target=None):
    """-sum_y p_s(y) [ mean_{i: y_i=y} f_y(x_i) - log mean_i exp(f_y(x_i) - log p_s(y) + log p_t(y))
    - lambda * (that log mean)^2 ], one class and one sample at a time."""
    total_n, num_classes = sum(counts), len(counts)
    p_s = [n / total_n for n in counts]
    p_t = [1 / num_classes] * num_classes if target is None else [t / sum(target) for t in target]
    loss = 0.0
    for y in range(num_classes):
        own = [row[y] for row, label in zip(logits, labels) if label == y]
        first = sum(own) / len(own) if own else 0.0
        second = math.log(sum(math.exp(row[y] - math.log(p_s[y]) + math.log(p_t[y])) for row in logits) / len(logits))
        loss -= p_s[y] * (first - second - remine_lambda * second ** 2)
    return loss


@pytest.mark.parametrize("labels", [[0, 1, 2, 0, 1], [0, 0, 1, 1, 0]])  # second: class 2 absent from the batch
def test_lade_terms_match_loops(labels):
    logits, y = torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(labels)
    loss = LADELoss(COUNTS, weight=0.3, remine_lambda=0.2).double()
    per_sample = loss(logits, y)
    for i, label in enumerate(labels):  # LADE-CE: cross-entropy on f + log p_s
        row = [v + math.log(n / 100) for v, n in zip(LOGITS[i], COUNTS)]
        assert per_sample[i].item() == pytest.approx(-log_softmax_row(row, label), rel=1e-6)
    expected = hand_lader(LOGITS, labels, COUNTS, 0.2)
    assert loss.lader(logits, y).item() == pytest.approx(expected, rel=1e-6)
    assert loss.extra_loss(logits, y).item() == pytest.approx(0.3 * expected, rel=1e-6)
    assert loss.regularizer().item() == pytest.approx(0.3 * expected, rel=1e-6)  # the Trainer's bridge
    with pytest.raises(RuntimeError, match="call the loss on a batch first"):
        loss.regularizer()


def test_lade_dv_bound_without_remine_and_target_prior():
    labels = [0, 1, 2, 0, 1]
    loss = LADELoss(COUNTS, remine_lambda=0.0, target_counts=[1, 2, 7]).double()
    expected = hand_lader(LOGITS, labels, COUNTS, 0.0, target=[1, 2, 7])
    assert loss.lader(torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(labels)).item() == \
        pytest.approx(expected, rel=1e-6)


def test_pc_softmax_equals_softmax_of_hand_adjusted_logits():
    loss = build_loss("lade", 3, COUNTS)
    probs = torch.softmax(loss.adjust_logits(torch.tensor(LOGITS)), dim=1)
    for i, row in enumerate(LOGITS):
        adjusted = [v - math.log(n / 100) + math.log(1 / 3) for v, n in zip(row, COUNTS)]
        z = sum(math.exp(a) for a in adjusted)
        for j in range(3):
            assert probs[i, j].item() == pytest.approx(math.exp(adjusted[j]) / z, rel=1e-5)
    target = torch.tensor([0.2, 0.3, 0.5]).log()
    source = torch.tensor([0.6, 0.3, 0.1]).log()
    adjusted = pc_softmax_logits(torch.tensor(LOGITS), source, target)
    assert adjusted[1, 2].item() == pytest.approx(0.1 - math.log(0.1) + math.log(0.5), rel=1e-6)
    with pytest.raises(ValueError, match="expected \\(3,\\)"):
        pc_softmax_logits(torch.tensor(LOGITS), source[:2])


def test_dsb_weights_only_the_per_sample_term():
    labels = [0, 1, 2, 0, 1]
    logits, y = torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(labels)
    loss = LADELoss(COUNTS).double()
    weights = [0.5, 1.0, 1.5]
    total = weighted_mean(loss(logits, y), y, weights) + loss.regularizer()
    hand = sum(weights[label] * -log_softmax_row([v + math.log(n / 100) for v, n in zip(LOGITS[i], COUNTS)], label)
               for i, label in enumerate(labels)) / 5 + 0.1 * hand_lader(LOGITS, labels, COUNTS, 0.1)
    assert total.item() == pytest.approx(hand, rel=1e-6)


def test_lade_needs_counts():
    with pytest.raises(ValueError, match="needs the training class counts"):
        build_loss("lade", 3)
