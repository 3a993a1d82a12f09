import math

import pytest
import torch

from semscale.methods.mbj import MBJ, store_probabilities
from semscale.weighting import weighted_mean


def test_store_probabilities_by_hand():
    assert torch.allclose(store_probabilities([8, 4, 2, 1]), torch.tensor([1 / 8, 1 / 4, 1 / 2, 1.0]))
    assert torch.allclose(store_probabilities([8, 4, 2, 1], power=2.0), torch.tensor([1 / 64, 1 / 16, 1 / 4, 1.0]))


def test_memory_is_a_first_in_first_out_ring_per_class():
    torch.manual_seed(0)
    method = MBJ(3, 2, [1, 1], memory_per_class=2)             # equal counts: every feature is stored
    features = torch.randn(3, 3)
    method(features, torch.tensor([1, 1, 1]))
    assert torch.equal(method.filled, torch.tensor([[False, False], [True, True]]))
    assert torch.allclose(method.memory[1, 0], features[2]) and torch.allclose(method.memory[1, 1], features[1])


def test_head_classes_are_stored_rarely():
    method = MBJ(3, 2, [10 ** 6, 1], memory_per_class=4)
    method(torch.randn(8, 3), torch.tensor([0] * 4 + [1] * 4))
    assert not method.filled[0].any() and method.filled[1].all()


def _filled_method():
    torch.manual_seed(0)
    method = MBJ(3, 3, [4, 2, 1], memory_per_class=3, replay=5, memory_weight=0.5, store_power=0.0)
    method(torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0]))  # store_power 0: every class stores everything
    return method


def test_replayed_features_are_classified_and_pooled_with_the_batch():
    method = _filled_method()
    features, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 2])
    memory_before = method.memory.clone()
    out = method(features, labels)
    mem_labels = out.extras["memory_labels"]
    assert len(mem_labels) == 5
    weights = torch.tensor([0.5, 1.0, 2.0])
    terms = method.per_sample_loss(out, labels)
    batch = weighted_mean(terms, method.loss_labels(out, labels), weights)

    def ce(logits, y):
        return -(logits[y] - math.log(sum(math.exp(v) for v in logits)))

    hand, count = 0.0, 0
    with torch.no_grad():
        for f, y in zip(features, labels.tolist()):
            hand += weights[y].item() * ce(method.head(f).tolist(), y)
            count += 1
        for logits, y in zip(out.extras["memory_logits"].tolist(), mem_labels.tolist()):
            # a replayed row is one of class y's stored features, classified by the current head
            assert any(torch.allclose(method.head(m), torch.tensor(logits), atol=1e-6) for m in memory_before[y])
            hand += weights[y].item() * 0.5 * ce(logits, y)
            count += 1
    assert batch.item() == pytest.approx(hand / count, rel=1e-5)


def test_prototype_memory_jitters_the_logits():
    torch.manual_seed(0)
    method = MBJ(3, 2, [4, 1], memory_per_class=2, prototype_memory=2, prototype_threshold=0.5)
    old = method.head.weight.detach().clone()
    method(torch.randn(2, 3), torch.tensor([0, 1]))            # stores class 1's row (p = 1), not class 0's (p = 1/4)
    with torch.no_grad():
        method.head.weight.add_(1.0)
        f = torch.randn(3)
        logits = method.classify(f[None])[0]
        current = method.head(f)
        expected_1 = math.log(math.exp(current[1].item()) + math.exp((old[1] @ f + method.head.bias[1]).item()))
    assert logits[0].item() == pytest.approx(current[0].item(), rel=1e-6)
    assert logits[1].item() == pytest.approx(expected_1, rel=1e-6)


# ---- MBJ on RIDE (Table 2's MBJ+RIDE)

def _mbj_on_ride(**ride):
    torch.manual_seed(5)
    method = MBJ(4, 3, [6, 3, 1], memory_per_class=1, memory_weight=0.5, base="ride",
                 base_options={"num_experts": 2, "reweight_epoch": 1, "router_epochs": 1, **ride}).double()
    stored = torch.randn(3, 4, dtype=torch.float64)
    with torch.no_grad():   # one known feature a class in the memory, so a replayed label names its feature
        method.memory[:, 0], method.filled[:, 0] = stored, True
    return method, stored


def test_mbj_on_ride_replays_memory_features_through_the_experts():
    method, stored = _mbj_on_ride()
    method.on_epoch_start(1, 3)
    method.train()
    features, labels = torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 2, 0])
    out = method(features, labels)
    replayed_labels = out.extras["memory_labels"]
    assert len(replayed_labels) == 5   # replay defaults to the batch size
    # By hand with the same RIDE module: its terms on the batch, then 0.5 x its terms on the replayed features.
    ride = method.base
    batch = ride.per_sample_loss(ride(features, labels), labels)
    replayed = ride.per_sample_loss(ride(stored[replayed_labels], replayed_labels), replayed_labels)
    torch.testing.assert_close(method.per_sample_loss(out, labels), torch.cat([batch, 0.5 * replayed]))
    assert torch.equal(method.loss_labels(out, labels), torch.cat([labels, replayed_labels]))
    torch.testing.assert_close(out.logits, ride(features).logits)   # the batch's logits are RIDE's expert mean
    weights = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)   # DSB: each term weighted by its own class
    terms = torch.cat([batch, 0.5 * replayed])
    hand = sum(weights[y] * t for y, t in zip(torch.cat([labels, replayed_labels]).tolist(), terms)) / len(terms)
    torch.testing.assert_close(weighted_mean(method.per_sample_loss(out, labels),
                                             method.loss_labels(out, labels), weights), hand)


def test_mbj_on_ride_follows_rides_stages_and_router():
    method, _ = _mbj_on_ride()
    method.on_epoch_start(3, 3)   # the last epoch: RIDE's router stage
    assert method.base.router_stage and not method.trains_backbone(3)
    assert method.sampling_weights(3).tolist() == pytest.approx([1 / 3] * 3)
    method.train()
    features, labels = torch.randn(4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
    out = method(features, labels)
    assert "router_logits" in out.extras and method.extra_loss(out, labels).item() > 0   # RIDE's router loss
    method.eval()
    assert torch.equal(method.predict(method(features)), method.base.predict(method.base(features)))


def test_mbj_base_refusals():
    with pytest.raises(ValueError, match="prototype memory"):
        MBJ(4, 3, [6, 3, 1], prototype_memory=2, base="ride")
    with pytest.raises(ValueError, match="does not wrap itself"):
        MBJ(4, 3, [6, 3, 1], base="mbj")
