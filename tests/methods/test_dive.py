import math

import pytest
import torch
import torch.nn as nn

from semscale.methods.dive import DiVE, power_normalised_targets
from semscale.weighting import weighted_mean

COUNTS = [6, 3, 1]


def test_power_normalised_targets_by_hand():
    # logits (0, ln 4) at tau 1: softmax = (1/5, 4/5); power 0.5 -> (sqrt(1/5), sqrt(4/5)) / sum = (1/3, 2/3)
    targets = power_normalised_targets(torch.tensor([[0.0, math.log(4.0)]]), 1.0, 0.5)
    assert torch.allclose(targets, torch.tensor([[1 / 3, 2 / 3]]))
    # tau 2 halves the logit gap: softmax = (1/3, 2/3); power 2 -> (1/9, 4/9) / (5/9) = (1/5, 4/5)
    targets = power_normalised_targets(torch.tensor([[0.0, math.log(4.0)]]), 2.0, 2.0)
    assert torch.allclose(targets, torch.tensor([[1 / 5, 4 / 5]]))


def test_targets_sum_to_one_and_are_flatter():
    logits = torch.randn(6, 5) * 4
    flat = power_normalised_targets(logits, 3.0, 0.5)
    assert torch.allclose(flat.sum(1), torch.ones(6))
    plain = power_normalised_targets(logits, 3.0, 1.0)
    assert (flat.max(1).values <= plain.max(1).values + 1e-7).all()


def _method(**options):
    torch.manual_seed(0)
    teacher = nn.Linear(4, 3)
    return DiVE(4, 3, COUNTS, teacher=teacher, **options), teacher


def _plain_loop(method, teacher, features, labels, tau, power, a):
    losses = []
    with torch.no_grad():
        student, teacher_logits = method.head(features).tolist(), teacher(features).tolist()
    for s, t, y in zip(student, teacher_logits, labels.tolist()):
        shifted = [v + math.log(n) for v, n in zip(s, COUNTS)]
        bsce = -(shifted[y] - math.log(sum(math.exp(v) for v in shifted)))
        p_t = [math.exp(v / tau) for v in t]
        p_t = [(v / sum(p_t)) ** power for v in p_t]
        q = [v / sum(p_t) for v in p_t]
        p_s = [math.exp(v / tau) for v in s]
        p_s = [v / sum(p_s) for v in p_s]
        kl = sum(qc * math.log(qc / pc) for qc, pc in zip(q, p_s))
        losses.append((1 - a) * bsce + a * tau ** 2 * kl)
    return losses


def test_loss_equals_plain_loop():
    method, teacher = _method(temperature=2.0, power=0.7, distill_weight=0.3)
    features, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    expected = _plain_loop(method, teacher, features, labels, 2.0, 0.7, 0.3)
    terms = method.per_sample_loss(method(features, labels), labels)
    assert torch.allclose(terms, torch.tensor(expected), atol=1e-5)


def test_dsb_weighting_and_frozen_teacher():
    method, teacher = _method()
    features, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    expected = _plain_loop(method, teacher, features, labels, 3.0, 0.5, 0.5)
    weights = torch.tensor([0.5, 1.0, 1.5])
    batch = weighted_mean(method.per_sample_loss(method(features, labels), labels), labels, weights)
    hand = sum(weights[y].item() * loss for y, loss in zip(labels.tolist(), expected)) / 5
    assert batch.item() == pytest.approx(hand, rel=1e-5)
    batch.backward()
    assert teacher.weight.grad is None and method.head.weight.grad is not None
    assert not any(p.requires_grad for p in teacher.parameters())   # the optimiser's weight decay cannot move it


def test_missing_teacher_is_an_error():
    method = DiVE(4, 3, COUNTS)
    with pytest.raises(ValueError, match="teacher"):
        method(torch.randn(2, 4), torch.tensor([0, 1]))
