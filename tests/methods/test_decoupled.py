"""cRT and LWS: the stage boundary, class-balanced sampling in stage 2, cRT's re-initialisation, LWS's per-class
logit scaling and its gradient by hand, DSB weighting by hand."""
import math

import pytest
import torch

from semscale.methods.decoupled import CRT, LWS
from hand_loss import check_dsb_weights_cross_entropy


@pytest.mark.parametrize("cls", [CRT, LWS])
def test_schedule_sampling_and_frozen_backbone(cls):
    method = cls(4, 3, class_counts=[10, 5, 1], stage2_epochs=2)
    for epoch in range(1, 7):
        method.on_epoch_start(epoch, 6)
        stage2 = epoch >= 5
        assert method.trains_backbone(epoch) is (not stage2), epoch
        if stage2:
            assert method.sampling_weights(epoch) == pytest.approx([1 / 3] * 3)  # class-balanced
        else:
            assert method.sampling_weights(epoch) is None  # instance-balanced
    with pytest.raises(ValueError, match="leave no stage 1"):
        method.on_epoch_start(1, 2)


def test_crt_reinitialises_the_head_once_at_stage2():
    torch.manual_seed(0)
    method = CRT(4, 3, stage2_epochs=2)
    snapshots = []
    for epoch in range(1, 7):
        before = method.head.weight.detach().clone()
        method.on_epoch_start(epoch, 6)
        snapshots.append(not torch.equal(before, method.head.weight))
    assert snapshots == [False, False, False, False, True, False]
    assert method.head.weight.requires_grad


def test_lws_scales_logits_per_class_and_learns_only_the_scales():
    torch.manual_seed(1)
    method = LWS(3, 3, stage2_epochs=1).double()
    method.on_epoch_start(1, 3)
    assert method.head.weight.requires_grad and not method.scales.requires_grad
    method.on_epoch_start(3, 3)
    assert not method.head.weight.requires_grad and method.scales.requires_grad
    with torch.no_grad():
        method.scales.copy_(torch.tensor([2.0, 0.5, 3.0]))
    x, labels = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
    out = method(x, labels)
    raw = (x @ method.head.weight.t() + method.head.bias).detach()
    for i in range(4):
        for j, f in enumerate([2.0, 0.5, 3.0]):
            assert out.logits[i, j].item() == pytest.approx(f * raw[i, j].item(), rel=1e-12)
    method.per_sample_loss(out, labels).mean().backward()
    assert method.head.weight.grad is None
    # d/df_j of mean_i CE(f * z_i) = mean_i (softmax_j(f * z_i) - [j = y_i]) * z_ij
    scales = [2.0, 0.5, 3.0]
    for j in range(3):
        grad = 0.0
        for i in range(4):
            row = [scales[k] * raw[i, k].item() for k in range(3)]
            p = math.exp(row[j]) / sum(math.exp(v) for v in row)
            grad += (p - (1.0 if labels[i] == j else 0.0)) * raw[i, j].item() / 4
        assert method.scales.grad[j].item() == pytest.approx(grad, rel=1e-9)


def test_dsb_weights_the_per_sample_cross_entropy():
    torch.manual_seed(2)
    method = CRT(3, 3).double()
    x, labels = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 0])
    check_dsb_weights_cross_entropy(method, x, labels, [0.5, 1.0, 2.0])
