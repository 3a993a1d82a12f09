"""IFL: env 2's intra-class weights by hand, the centre step and its fixed point (the class mean under the
resampling), the per-sample loss by hand, DSB weighting, and the milestone schedule."""
import math

import numpy as np
import pytest
import torch

from semscale.methods.ifl import IFL, intra_class_weights
from semscale.weighting import weighted_mean

from hand_loss import hand_cross_entropy, hand_weighted_mean


def test_intra_class_weights_by_hand():
    labels = [0, 0, 0, 0, 0, 1, 1, 1]
    probs = [0.9, 0.5, 0.1, 0.7, 0.3, 0.2, 0.9, 0.4]
    w = intra_class_weights(labels, probs, target_ratio=4.0)
    # class 0: p - min = .8 .4 0 .6 .2, divided by the max (+ 1e-9), s = |1 - .| + 1e-5
    s = [abs(1 - v / (0.8 + 1e-9)) + 1e-5 for v in (0.8, 0.4, 0.0, 0.6, 0.2)]
    ordered = sorted(s)
    head, tail = sum(ordered[:4]) / 4, ordered[4]  # int(5 * .8) = 4 smallest, int(5 * .2) = 1 largest
    exponent = min(max(math.log(4.0) / math.log(tail / head + 1e-5), 1.0), 10.0)
    expected = [v ** exponent for v in s]
    np.testing.assert_allclose(w[:5], [v / sum(expected) for v in expected], rtol=1e-6)
    assert w[2] == w[:5].max()  # the least confident sample is drawn most
    np.testing.assert_allclose(w[5:], [1 / 3] * 3)  # fewer than 5 samples: uniform within the class
    assert w.sum() == pytest.approx(2.0)  # each class sums to 1: env 2 is class-balanced


def test_centre_step_by_hand_and_fixed_point_is_resampled_class_mean():
    torch.manual_seed(0)
    method = IFL(2, 2, class_counts=[3, 1], centre_lr=0.5)
    start = method.centres.clone()
    features = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0], [1.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 0])
    method.train()
    out = method(features, labels)
    torch.testing.assert_close(out.extras["centres"], start[labels])  # the loss sees the pre-step centres
    expected = start.clone()
    for c in range(2):
        pull = sum((features[i] - start[c] for i in range(4) if labels[i] == c), torch.zeros(2))
        expected[c] = start[c] + 2 * 0.5 / 4 * pull
    torch.testing.assert_close(method.centres, expected)
    # Env 2 draws sample 0 three times as often as sample 1: feed that resampled batch until the centre settles.
    resampled = torch.tensor([[1.0, 0.0]] * 3 + [[3.0, 2.0]] + [[0.0, 5.0]] * 4)
    resampled_labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    for _ in range(200):
        method(resampled, resampled_labels)
    torch.testing.assert_close(method.centres[0], torch.tensor([1.5, 0.5]))  # (3 * (1, 0) + (3, 2)) / 4
    torch.testing.assert_close(method.centres[1], torch.tensor([0.0, 5.0]))
    method.eval()
    before = method.centres.clone()
    method(features, labels)
    torch.testing.assert_close(method.centres, before)  # no step at evaluation


def test_per_sample_loss_by_hand_and_dsb_weighting():
    torch.manual_seed(1)
    counts = [6, 3, 1]
    method = IFL(3, 3, class_counts=counts).double()
    method.on_epoch_start(90, 100)
    assert method.centre_weight == 0.005
    features = torch.randn(5, 3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 2])
    centres = method.centres.clone()
    out = method(features, labels)
    loss = method.per_sample_loss(out, labels)
    logits = out.logits.detach()
    hand = []
    for i in range(5):
        row = [logits[i, j].item() + math.log(counts[j]) for j in range(3)]
        hand.append(hand_cross_entropy(row, labels[i]) + 0.005 * ((features[i] - centres[labels[i]]) ** 2).sum().item())
    np.testing.assert_allclose(loss.detach().numpy(), hand, rtol=1e-6)
    weights = [0.2, 1.0, 1.8]
    assert weighted_mean(loss, labels, weights).item() == pytest.approx(hand_weighted_mean(hand, labels, weights),
                                                                        rel=1e-6)


def test_schedule_and_second_environment():
    method = IFL(2, 2, class_counts=[3, 1])
    expected = {1: 0.0, 60: 0.0, 61: 0.001, 80: 0.001, 81: 0.005, 100: 0.005}
    for epoch, weight in expected.items():
        method.on_epoch_start(epoch, 100)
        assert method.centre_weight == weight, epoch
    assert method.second_sampling_weights(1) == pytest.approx([0.75, 0.25])  # instance-balanced before the update
    assert method.second_instance_weights() is None
    labels, probs = [0, 0, 0, 1], [0.9, 0.2, 0.5, 0.7]
    method.end_of_epoch(60, labels, probs)
    assert method.second_instance_weights() is None  # epoch 60 (0-based 59) is no milestone
    method.end_of_epoch(61, labels, probs)
    np.testing.assert_allclose(method.second_instance_weights(), [1 / 3, 1 / 3, 1 / 3, 1.0])
    assert method.second_sampling_weights(62) == pytest.approx([0.5, 0.5])
    resumed = IFL(2, 2, class_counts=[3, 1])
    resumed.load_state_dict(method.state_dict())
    np.testing.assert_allclose(resumed.second_instance_weights(), [1 / 3, 1 / 3, 1 / 3, 1.0])
    torch.testing.assert_close(resumed.centres, method.centres)
