"""cRT and LWS: the stage boundary, class-balanced sampling in stage 2, cRT's re-initialisation, LWS's per-class
logit scaling and its gradient by hand, DSB weighting by hand."""
import math

import numpy as np

import pytest
import torch

from semscale.methods.decoupled import CRT, LWS
from hand_loss import check_dsb_weights_cross_entropy, hand_cross_entropy


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


# ---- stage 1 by IFL (Table 11's cRT+IFL and LWS+IFL)

IFL_OPTIONS = {"milestones": [0.5], "centre_weights": [0.0, 0.01]}   # 4 stage-1 epochs: IFL's milestone epoch 3


def hand_ifl_terms(logits, features, centres, labels, counts, centre_weight):
    """IFL's per-sample term by hand: -log softmax_y(z + log p_s) + lambda ||x - c_y||^2."""
    log_prior = [math.log(n / sum(counts)) for n in counts]
    terms = []
    for i, y in enumerate(labels.tolist()):
        shifted = [v + p for v, p in zip(logits[i].tolist(), log_prior)]
        distance = sum((a - b) ** 2 for a, b in zip(features[i].tolist(), centres[y].tolist()))
        terms.append(hand_cross_entropy(shifted, y) + centre_weight * distance)
    return terms


@pytest.mark.parametrize("cls", [CRT, LWS])
def test_stage1_by_ifl_then_the_plain_stage2(cls):
    torch.manual_seed(3)
    counts = [6, 3, 1]
    method = cls(3, 3, class_counts=counts, stage2_epochs=2, stage1="ifl", stage1_options=IFL_OPTIONS).double()
    assert method.head is method.stage1.head   # one classifier for both stages
    x, labels = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 0])
    second = (torch.randn(4, 3, dtype=torch.float64), torch.tensor([1, 1, 2, 0]))
    for epoch in range(1, 7):   # 6 epochs: stage 1 = IFL over epochs 1-4, stage 2 = epochs 5-6
        method.on_epoch_start(epoch, 6)
        stage2 = epoch >= 5
        assert method.trains_backbone(epoch) is (not stage2)
        # IFL's milestone is a fraction of the stage-1 epochs: round(0.5 * 4) + 1 = 3, never in stage 2
        assert method.wants_true_class_probs(epoch) is (epoch == 3), epoch
        if not stage2:
            assert method.sampling_weights(epoch) is None
            assert method.second_sampling_weights(epoch) == pytest.approx([6 / 10, 3 / 10, 1 / 10])  # IFL env 2
            assert method.stage1.centre_weight == (0.01 if epoch >= 3 else 0.0)
            method.train()
            centres = method.stage1.centres.clone()
            out = method(x, labels, second=second)
            both = torch.cat([labels, second[1]])
            assert torch.equal(method.loss_labels(out, labels), both)   # both environments' rows carry weights
            expected = hand_ifl_terms(out.logits.detach(), torch.cat([x, second[0]]), centres, both, counts,
                                      method.stage1.centre_weight)
            # rel 1e-7: the balanced softmax keeps its log-prior from float32 counts
            assert method.per_sample_loss(out, labels).tolist() == pytest.approx(expected, rel=1e-7)
        else:
            assert method.sampling_weights(epoch) == pytest.approx([1 / 3] * 3)
            assert method.second_sampling_weights(epoch) is None and method.second_instance_weights() is None
            with pytest.raises(ValueError, match="no second batch"):
                method(x, labels, second=second)
            out = method(x, labels)   # plain cross-entropy on the (re-trained or scaled) head: no prior, no centres
            check_dsb_weights_cross_entropy(method, x, labels, [0.5, 1.0, 2.0])
            raw = x @ method.head.weight.t() + method.head.bias
            scale = method.scales if cls is LWS else 1.0
            torch.testing.assert_close(out.logits, raw * scale)


def test_ifl_end_of_epoch_pass_reaches_the_stage1_method():
    method = CRT(3, 3, class_counts=[6, 3, 1], stage2_epochs=2, stage1="ifl", stage1_options=IFL_OPTIONS)
    labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2]
    probs = [0.9, 0.5, 0.1, 0.7, 0.3, 0.2, 0.9, 0.4, 0.5, 0.6]
    method.on_epoch_start(2, 6)
    method.end_of_epoch(2, labels, probs)   # not a milestone: nothing changes
    assert method.second_instance_weights() is None
    method.on_epoch_start(3, 6)
    method.end_of_epoch(3, labels, probs)
    from semscale.methods.ifl import intra_class_weights
    np.testing.assert_allclose(method.second_instance_weights(), intra_class_weights(labels, probs))
    assert method.second_sampling_weights(4) == pytest.approx([1 / 3] * 3)   # env 2 class-balanced after it


def test_crt_stage1_ifl_head_reinitialised_at_stage2():
    torch.manual_seed(4)
    method = CRT(3, 3, class_counts=[6, 3, 1], stage2_epochs=1, stage1="ifl")
    method.on_epoch_start(2, 3)
    before = method.stage1.head.weight.detach().clone()
    method.on_epoch_start(3, 3)
    assert not torch.equal(before, method.stage1.head.weight)   # the shared head is the one re-initialised


@pytest.mark.parametrize("name", ["paco", "ride", "bbn", "nonsense"])
def test_stage1_must_predict_with_a_plain_linear_head(name):
    with pytest.raises(ValueError, match="stage1 .* must be one of ce, blsoftmax, ifl"):
        CRT(3, 3, class_counts=[6, 3, 1], stage1=name)
