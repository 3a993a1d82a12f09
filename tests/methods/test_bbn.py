import pytest
import torch
import torch.nn.functional as F

from semscale.methods.bbn import BBN, cumulative_alpha, reversed_class_probabilities
from semscale.weighting import weighted_mean


def test_cumulative_alpha_at_start_half_and_end():
    assert cumulative_alpha(0, 10) == 1.0
    assert cumulative_alpha(5, 10) == pytest.approx(0.75)
    assert cumulative_alpha(10, 10) == 0.0


def test_epoch_hook_counts_epochs_from_zero():
    method = BBN(3, 2, [5, 1])
    method.on_epoch_start(1, 4)
    assert method.alpha == 1.0
    method.on_epoch_start(3, 4)
    assert method.alpha == pytest.approx(1 - (2 / 4) ** 2)


def test_reversed_sampler_probabilities_by_hand():
    # counts 6, 3, 1: 1/n = 1/6, 1/3, 1 -> sum 3/2 -> 1/9, 2/9, 6/9
    probs = reversed_class_probabilities([6, 3, 1])
    assert torch.allclose(probs, torch.tensor([1 / 9, 2 / 9, 6 / 9], dtype=torch.float64))
    method = BBN(3, 3, [6, 3, 1])
    assert method.sampling_weights(1) is None          # conventional branch: instance-balanced order
    assert torch.allclose(method.second_sampling_weights(1), probs.float())


def _pair_batch():
    torch.manual_seed(0)
    method = BBN(4, 3, [6, 3, 1])
    method.on_epoch_start(3, 4)                        # alpha = 1 - (2/4)^2 = 0.75
    f_c, f_r = torch.randn(5, 4), torch.randn(5, 4)
    y_c, y_r = torch.tensor([0, 0, 1, 0, 2]), torch.tensor([2, 1, 2, 2, 0])
    return method, f_c, f_r, y_c, y_r


def test_mixed_logits_and_loss_match_the_paper():
    method, f_c, f_r, y_c, y_r = _pair_batch()
    out = method(f_c, y_c, second=(f_r, y_r))
    alpha = 0.75
    expected_logits = method.head(torch.cat([alpha * method.conventional(f_c),
                                             (1 - alpha) * method.rebalancing(f_r)], 1))
    assert torch.allclose(out.logits, expected_logits)
    plain = 0.0
    for i in range(5):
        log_p = F.log_softmax(out.logits[i], 0)
        plain += -(alpha * log_p[y_c[i]] + (1 - alpha) * log_p[y_r[i]])
    batch = weighted_mean(method.per_sample_loss(out, y_c), method.loss_labels(out, y_c), None)
    assert batch.item() == pytest.approx(plain.item() / 5, rel=1e-6)


def test_dsb_weights_land_on_each_terms_class():
    method, f_c, f_r, y_c, y_r = _pair_batch()
    out = method(f_c, y_c, second=(f_r, y_r))
    weights = torch.tensor([0.5, 1.0, 1.5])
    alpha = 0.75
    hand = 0.0
    for i in range(5):
        log_p = F.log_softmax(out.logits[i], 0)
        hand += -(weights[y_c[i]] * alpha * log_p[y_c[i]] + weights[y_r[i]] * (1 - alpha) * log_p[y_r[i]])
    batch = weighted_mean(method.per_sample_loss(out, y_c), method.loss_labels(out, y_c), weights)
    assert batch.item() == pytest.approx(hand.item() / 5, rel=1e-6)


def test_inference_uses_both_branches_at_half():
    method, f_c, *_ = _pair_batch()
    method.eval()
    out = method(f_c)
    expected = method.head(torch.cat([0.5 * method.conventional(f_c), 0.5 * method.rebalancing(f_c)], 1))
    assert torch.allclose(method.predict(out), expected)


def test_training_without_the_second_batch_is_an_error():
    method, f_c, _, y_c, _ = _pair_batch()
    with pytest.raises(ValueError, match="second"):
        method(f_c, y_c)
