"""Deconfound-TDE: the causal normalised logits by a plain loop, the moving-average direction by hand, and the
inference subtracting exactly alpha * cos(x, d) * classifier(d) per head; DSB weighting by hand."""
import math

import pytest
import torch

from semscale.methods.tde import TDE
from hand_loss import check_dsb_weights_cross_entropy

TAU, GAMMA, ALPHA, K = 16.0, 1 / 32, 3.0, 2


def norm(v):
    return math.sqrt(sum(a * a for a in v))


def causal_logit(x, w):
    """(tau / K) sum_k w^k . x^k / ((|w^k| + gamma) |x^k|), heads split in halves."""
    half = len(x) // K
    total = 0.0
    for k in range(K):
        xk, wk = x[k * half:(k + 1) * half], w[k * half:(k + 1) * half]
        total += sum(a * b for a, b in zip(wk, xk)) / ((norm(wk) + GAMMA) * norm(xk))
    return TAU / K * total


def test_training_logits_direction_and_tde_inference_by_hand():
    torch.manual_seed(0)
    method = TDE(4, 3, heads=K, tau=TAU, gamma=GAMMA, alpha=ALPHA, momentum=0.9).double()
    batches = [torch.randn(5, 4, dtype=torch.float64) for _ in range(2)]
    method.train()
    out = method(batches[0])
    w = method.weight.detach().tolist()
    for i in range(5):
        for j in range(3):
            assert out.logits[i, j].item() == pytest.approx(causal_logit(batches[0][i].tolist(), w[j]), rel=1e-10)
    method(batches[1])
    expected_d = 0.9 * (0.1 * batches[0].mean(0)) + 0.1 * batches[1].mean(0)
    torch.testing.assert_close(method.direction, expected_d)

    method.eval()
    x = torch.randn(3, 4, dtype=torch.float64)
    out = method(x)
    adjusted = method.predict(out)
    d = expected_d.tolist()
    for i in range(3):
        xi = x[i].tolist()
        for j in range(3):
            subtract = 0.0
            for k in range(K):
                xk, dk = xi[2 * k:2 * k + 2], d[2 * k:2 * k + 2]
                cos = sum(a * b for a, b in zip(xk, dk)) / (norm(xk) * norm(dk))
                # head k of the causal classifier applied to d^k / |d^k|
                wk = w[j][2 * k:2 * k + 2]
                subtract += ALPHA * cos * TAU / K * sum(a * b for a, b in zip(wk, dk)) / ((norm(wk) + GAMMA) * norm(dk))
            assert adjusted[i, j].item() == pytest.approx(causal_logit(xi, w[j]) - subtract, rel=1e-9, abs=1e-12)
    torch.testing.assert_close(method.direction, expected_d)  # no update at evaluation


def test_errors_before_training_and_in_train_mode():
    method = TDE(4, 3)
    method.eval()
    with pytest.raises(RuntimeError, match="still zero"):
        method(torch.randn(2, 4))
    method.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        method.predict(method(torch.randn(2, 4)))
    with pytest.raises(ValueError, match="not divisible"):
        TDE(5, 3, heads=2)


def test_dsb_weights_the_per_sample_cross_entropy():
    torch.manual_seed(1)
    method = TDE(4, 3).double()
    x, labels = torch.randn(4, 4, dtype=torch.float64), torch.tensor([0, 2, 1, 2])
    check_dsb_weights_cross_entropy(method, x, labels, [1.5, 0.5, 1.0])
