"""Circle loss per anchor against pytorch-metric-learning's CircleLoss (same m, gamma) and a plain loop."""
import math

import pytest
import torch
from pytorch_metric_learning import losses as pml
from pytorch_metric_learning.reducers import DoNothingReducer

from semscale.losses import CircleLoss, build_loss
from semscale.weighting import weighted_mean


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(3)
    # class 3 has one sample: its anchor has no positive and gets 0
    return torch.randn(10, 6, generator=g, dtype=torch.float64), torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 2, 3])


@pytest.mark.parametrize("m,gamma", [(0.4, 80.0), (0.25, 16.0)])
def test_circle_matches_pytorch_metric_learning(batch, m, gamma):
    embeddings, labels = batch
    ours = CircleLoss(m=m, gamma=gamma)(embeddings, labels)
    theirs = pml.CircleLoss(m=m, gamma=gamma, reducer=DoNothingReducer())(embeddings, labels)["loss"]["losses"].squeeze(1)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)
    assert ours[-1].item() == 0.0
    mean_nonzero = ours[ours > 0].mean()
    reduced = pml.CircleLoss(m=m, gamma=gamma)(embeddings, labels)
    assert mean_nonzero.item() == pytest.approx(reduced.item(), rel=1e-9)
    # Gradients too: the self-paced weights a_p, a_n are constants in both.
    ours_x, theirs_x = embeddings.clone().requires_grad_(), embeddings.clone().requires_grad_()
    (CircleLoss(m=m, gamma=gamma)(ours_x, labels) * torch.arange(1.0, 11.0, dtype=torch.float64)).sum().backward()
    theirs = pml.CircleLoss(m=m, gamma=gamma, reducer=DoNothingReducer())(theirs_x, labels)["loss"]["losses"]
    (theirs.squeeze(1) * torch.arange(1.0, 11.0, dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(ours_x.grad, theirs_x.grad, rtol=1e-8, atol=1e-12)


def test_circle_loop_and_gradient_through_similarities_only(batch):
    embeddings, labels = batch
    m, gamma = 0.3, 10.0
    z = [(e / e.norm()).tolist() for e in embeddings]
    loss = CircleLoss(m=m, gamma=gamma)(embeddings, labels)
    for i in range(len(labels)):
        pos, neg = [], []
        for j in range(len(labels)):
            s = sum(a * b for a, b in zip(z[i], z[j]))
            if j != i and labels[j] == labels[i]:
                pos.append(-gamma * max(1 + m - s, 0) * (s - (1 - m)))
            elif labels[j] != labels[i]:
                neg.append(gamma * max(s + m, 0) * (s - m))
        if not pos or not neg:
            assert loss[i].item() == 0.0
            continue
        inner = math.log(sum(math.exp(v) for v in pos)) + math.log(sum(math.exp(v) for v in neg))
        assert loss[i].item() == pytest.approx(math.log1p(math.exp(inner)), rel=1e-9)


def test_dsb_weights_each_anchor_by_its_class(batch):
    embeddings, labels = batch
    per_anchor = build_loss("circle", 4)(embeddings, labels)
    weights = [0.5, 2.0, 1.0, 3.0]
    hand = sum(weights[int(y)] * l for y, l in zip(labels, per_anchor.tolist())) / len(labels)
    assert weighted_mean(per_anchor, labels, weights).item() == pytest.approx(hand, rel=1e-12)
