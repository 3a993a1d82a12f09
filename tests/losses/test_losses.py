"""Each loss against a plain per-sample loop; NormSoftmax and SoftTriple against pytorch-metric-learning."""
import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning import losses as pml

from semscale.losses import (BalancedSoftmaxLoss, FocalLoss, LDAMLoss, NormSoftmaxLoss, SoftTripleLoss,
                             build_loss, cross_entropy)
from semscale.weighting import ClassBalanced, CDB, normalise_to_count, weighted_mean



@pytest.fixture(autouse=True)
def float64_default():
    """Loops in float64 compare tightly; restored afterwards so other tests keep float32."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 5, generator=g), torch.randint(0, 5, (16,), generator=g)


def log_softmax_row(row, j):
    m = max(row)
    return row[j] - m - math.log(sum(math.exp(v - m) for v in row))


def test_cross_entropy_and_focal_loop(batch):
    logits, labels = batch
    ce = cross_entropy(logits, labels)
    focal = FocalLoss(gamma=2.0)(logits, labels)
    for i in range(len(labels)):
        lp = log_softmax_row(logits[i].tolist(), int(labels[i]))
        assert ce[i].item() == pytest.approx(-lp, rel=1e-12)
        assert focal[i].item() == pytest.approx(-((1 - math.exp(lp)) ** 2) * lp, rel=1e-12)
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, labels), ce)


def test_ldam_loop(batch):
    logits, labels = batch
    counts = [500, 100, 50, 10, 5]
    loss = LDAMLoss(counts, max_margin=0.5, scale=30.0)(logits, labels)
    margins = [n ** -0.25 for n in counts]
    margins = [0.5 * m / max(margins) for m in margins]
    assert max(margins) == pytest.approx(0.5)
    for i in range(len(labels)):
        y = int(labels[i])
        row = [30 * (v - (margins[y] if j == y else 0)) for j, v in enumerate(logits[i].tolist())]
        assert loss[i].item() == pytest.approx(-log_softmax_row(row, y), rel=1e-6)


def test_balanced_softmax_loop(batch):
    logits, labels = batch
    counts = [500, 100, 50, 10, 5]
    loss = BalancedSoftmaxLoss(counts)(logits, labels)
    for i in range(len(labels)):
        row = [v + math.log(n) for v, n in zip(logits[i].tolist(), counts)]
        assert loss[i].item() == pytest.approx(-log_softmax_row(row, int(labels[i])), rel=1e-6)


def test_normsoftmax_matches_pytorch_metric_learning(batch):
    embeddings, labels = torch.randn(16, 8, generator=torch.Generator().manual_seed(1)), batch[1]
    ours = NormSoftmaxLoss(5, 8, temperature=0.05)
    theirs = pml.NormalizedSoftmaxLoss(num_classes=5, embedding_size=8, temperature=0.05)
    with torch.no_grad():
        theirs.W.copy_(ours.proxies)
    per_sample = ours(embeddings, labels)
    assert per_sample.mean().item() == pytest.approx(theirs(embeddings, labels).item(), rel=1e-10)
    # Eq. 5, one sample at a time.
    for i in range(len(labels)):
        z = embeddings[i] / embeddings[i].norm()
        w = ours.proxies / ours.proxies.norm(dim=0)
        row = (z @ w / 0.05).tolist()
        assert per_sample[i].item() == pytest.approx(-log_softmax_row(row, int(labels[i])), rel=1e-9)


def test_softtriple_matches_pytorch_metric_learning(batch):
    embeddings = torch.randn(16, 8, generator=torch.Generator().manual_seed(2))
    labels = batch[1]
    ours = SoftTripleLoss(5, 8, centers=10, la=20, gamma=0.1, tau=0.2, margin=0.01)
    theirs = pml.SoftTripleLoss(num_classes=5, embedding_size=8, centers_per_class=10, la=20, gamma=0.1,
                                margin=0.01)  # pml leaves the tau regulariser to a weight regulariser
    with torch.no_grad():
        theirs.fc.copy_(ours.fc)
    assert ours(embeddings, labels).mean().item() == pytest.approx(theirs(embeddings, labels).item(), rel=1e-9)


def test_softtriple_regulariser_loop():
    loss = SoftTripleLoss(3, 4, centers=4, tau=0.2)
    w = (loss.fc / loss.fc.norm(dim=0)).t().reshape(3, 4, 4)
    total = 0.0
    for c in range(3):
        for k in range(4):
            for l in range(k + 1, 4):
                total += math.sqrt(2 + 1e-5 - 2 * float((w[c, k] @ w[c, l]).detach()))
    assert loss.regularizer().item() == pytest.approx(0.2 * total / (3 * 4 * 3), rel=1e-9)


def test_weighted_mean_and_weightings(batch):
    logits, labels = batch
    per_sample = cross_entropy(logits, labels)
    weights = np.array([1.0, 2.0, 0.5, 1.0, 0.5])
    expected = sum(weights[int(y)] * l for y, l in zip(labels, per_sample.tolist())) / len(labels)
    assert weighted_mean(per_sample, labels, weights).item() == pytest.approx(expected, rel=1e-12)
    assert weighted_mean(per_sample, labels, None).item() == pytest.approx(per_sample.mean().item())
    # Class-balanced by hand: E_n = (1 - b^n) / (1 - b), w ~ 1 / E_n, sum C.
    cb = ClassBalanced([10, 1], beta=0.9)
    e = np.array([(1 - 0.9 ** 10) / 0.1, 1.0])
    np.testing.assert_allclose(cb.class_weights(1), (1 / e) * 2 / (1 / e).sum())
    assert ClassBalanced([10, 1], start_epoch=3).class_weights(2) is None
    cdb = CDB(3, tau=2.0)
    cdb.observe_accuracy([0.9, 0.5, 0.0])
    np.testing.assert_allclose(cdb.class_weights(1), normalise_to_count([0.01, 0.25, 1.0]))


def test_build_loss_errors():
    with pytest.raises(ValueError, match="needs the training class counts"):
        build_loss("ldam", 3)
    with pytest.raises(ValueError, match="expected one of"):
        build_loss("hinge", 3)
