"""The class-weighted loss of a MixUp / CutMix batch, by hand and against torch's soft-target weighted CE."""
import pytest
import torch
import torch.nn.functional as F

from semscale.weighting import mixed_weighted_mean, weighted_mean

LOSS_A, LOSS_B = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])
LABELS_A, LABELS_B = torch.tensor([0, 2]), torch.tensor([1, 0])
WEIGHTS = [0.5, 1.0, 1.5]  # sums to C = 3


def test_weighted_by_hand():
    # sample 0: 0.3 * w0 * 1 + 0.7 * w1 * 3 = 0.15 + 2.1 = 2.25
    # sample 1: 0.3 * w2 * 2 + 0.7 * w0 * 4 = 0.9 + 1.4 = 2.3
    value = mixed_weighted_mean(LOSS_A, LOSS_B, LABELS_A, LABELS_B, 0.3, WEIGHTS)
    assert value.item() == pytest.approx((2.25 + 2.3) / 2, rel=1e-6)


def test_unweighted_by_hand():
    # (0.3 * 1 + 0.7 * 3 + 0.3 * 2 + 0.7 * 4) / 2 = (2.4 + 3.4) / 2
    value = mixed_weighted_mean(LOSS_A, LOSS_B, LABELS_A, LABELS_B, 0.3, None)
    assert value.item() == pytest.approx(2.9, rel=1e-6)


def test_per_sample_lambda_by_hand():
    # lam = (0.3, 0.8): sample 1 becomes 0.8 * 1.5 * 2 + 0.2 * 0.5 * 4 = 2.4 + 0.4 = 2.8
    value = mixed_weighted_mean(LOSS_A, LOSS_B, LABELS_A, LABELS_B, torch.tensor([0.3, 0.8]), WEIGHTS)
    assert value.item() == pytest.approx((2.25 + 2.8) / 2, rel=1e-6)


def test_lambda_one_is_the_single_label_weighting():
    one = mixed_weighted_mean(LOSS_A, LOSS_B, LABELS_A, LABELS_B, 1.0, WEIGHTS)
    assert one.item() == pytest.approx(weighted_mean(LOSS_A, LABELS_A, WEIGHTS).item(), rel=1e-6)
    assert one.item() == pytest.approx((0.5 * 1 + 1.5 * 2) / 2, rel=1e-6)


def test_equals_torch_weighted_cross_entropy_with_soft_targets():
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    labels_a, labels_b, lam = torch.tensor([0, 1, 2, 2, 1]), torch.tensor([1, 1, 0, 2, 0]), 0.35
    weights = torch.tensor(WEIGHTS)
    soft = lam * F.one_hot(labels_a, 3).float() + (1 - lam) * F.one_hot(labels_b, 3).float()
    reference = F.cross_entropy(logits, soft, weight=weights, reduction="none").mean()
    ours = mixed_weighted_mean(F.cross_entropy(logits, labels_a, reduction="none"),
                               F.cross_entropy(logits, labels_b, reduction="none"),
                               labels_a, labels_b, lam, WEIGHTS)
    torch.testing.assert_close(ours, reference)


def test_gradient_flows_to_both_terms():
    a, b = LOSS_A.clone().requires_grad_(), LOSS_B.clone().requires_grad_()
    mixed_weighted_mean(a, b, LABELS_A, LABELS_B, 0.3, WEIGHTS).backward()
    # d/dL_a[i] = 0.3 * w[a_i] / 2, d/dL_b[i] = 0.7 * w[b_i] / 2
    torch.testing.assert_close(a.grad, torch.tensor([0.3 * 0.5 / 2, 0.3 * 1.5 / 2]))
    torch.testing.assert_close(b.grad, torch.tensor([0.7 * 1.0 / 2, 0.7 * 0.5 / 2]))
