"""BLSoftmax: training loss = cross-entropy on logits + log p_s by hand, raw logits at test time, DSB weighting."""
import math

import pytest
import torch

from semscale.methods.blsoftmax import BLSoftmax
from semscale.weighting import weighted_mean

from hand_loss import hand_cross_entropy, hand_weighted_mean


def test_blsoftmax_loss_by_hand_plain_prediction_and_dsb():
    torch.manual_seed(0)
    counts = [8, 4, 2, 1]
    method = BLSoftmax(3, 4, class_counts=counts).double()
    features, labels = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 3])
    out = method(features, labels)
    logits = features @ method.head.weight.t() + method.head.bias
    torch.testing.assert_close(method.predict(out), logits)  # no adjustment at inference
    loss = method.per_sample_loss(out, labels)
    hand = []
    for i in range(6):
        row = [logits[i, j].item() + math.log(counts[j] / 15) for j in range(4)]
        hand.append(hand_cross_entropy(row, labels[i]))
    assert loss.tolist() == pytest.approx(hand, rel=1e-6)
    weights = [0.5, 1.0, 1.5, 2.0]
    assert weighted_mean(loss, labels, weights).item() == pytest.approx(hand_weighted_mean(hand, labels, weights),
                                                                        rel=1e-6)
    assert method.sampling_weights(1) is None and method.trains_backbone(1)


def test_blsoftmax_needs_counts():
    with pytest.raises(ValueError, match="needs class_counts"):
        BLSoftmax(3, 4)
