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
    state = method.state_dict()  # one known feature a class in the memory, so a replayed label names its feature
    state["memory"][:, 0], state["filled"][:, 0] = stored, True
    method.load_state_dict(state)  # the route that also renews MBJ's host copies of its buffers
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


# ---- the memory's bookkeeping on the host (a GPU step waits for nothing), against a plain loop

def _stored_by_a_loop(method, features, labels):
    """MBJ's store as a loop over the batch (each kept feature to its class's next slot, first in first out), on
    copies of the buffers, with the keep draws the method's generator is about to make."""
    memory, filled, next_slot = method.memory.clone(), method.filled.clone(), method.next_slot.clone()
    generator = torch.Generator()
    generator.set_state(method.generator.get_state())
    keep = torch.rand(len(labels), generator=generator) < method.store_probability[labels]
    depth = memory.shape[1]
    for feature, label, kept in zip(features, labels.tolist(), keep.tolist()):
        if kept:
            slot = int(next_slot[label])
            memory[label, slot], filled[label, slot] = feature, True
            next_slot[label] = (slot + 1) % depth
    return memory, filled, next_slot


def test_store_matches_a_loop_over_the_batch_when_a_class_wraps_its_ring():
    method = MBJ(3, 3, [100, 3, 1], memory_per_class=3, store_power=0.5, seed=4)
    generator = torch.Generator().manual_seed(0)
    for size in (12, 20, 7):   # 20 samples of 3 classes: the rarer classes wrap their 3 slots within one batch
        features = torch.randn(size, 3, generator=generator)
        labels = torch.randint(3, (size,), generator=generator)
        memory, filled, next_slot = _stored_by_a_loop(method, features, labels)
        method._store(features, labels)
        assert torch.equal(method.memory, memory) and torch.equal(method.filled, filled)
        assert torch.equal(method.next_slot, next_slot)
    assert method.filled[2].all() and not method.filled.all()   # the rare class filled, the head class not yet


def test_draw_is_uniform_over_the_filled_slots_in_slot_order():
    method = MBJ(2, 2, [1, 1], memory_per_class=3, replay=4, seed=1)
    method._store(torch.arange(8.0).reshape(4, 2), torch.tensor([1, 0, 1, 1]))  # slots (1,0) (0,0) (1,1) (1,2)
    generator = torch.Generator()
    generator.set_state(method.generator.get_state())
    filled_slots = [1 * 3 + 0, 0 * 3 + 0, 1 * 3 + 1, 1 * 3 + 2]
    expected = [sorted(filled_slots)[i] for i in torch.randint(4, (4,), generator=generator).tolist()]
    rows, replayed_labels = method._draw(4)
    assert replayed_labels.tolist() == [slot // 3 for slot in expected]
    assert torch.equal(rows, method.memory.flatten(0, 1)[expected])


def test_host_copies_follow_a_loaded_state():
    trained = MBJ(3, 2, [1, 1], memory_per_class=2, seed=2)
    trained._store(torch.randn(3, 3), torch.tensor([0, 1, 1]))
    fresh = MBJ(3, 2, [1, 1], memory_per_class=2, seed=9)
    fresh.load_state_dict(trained.state_dict())
    features, labels = torch.randn(2, 3), torch.tensor([0, 0])
    memory, filled, next_slot = _stored_by_a_loop(trained, features, labels)
    fresh._store(features, labels)   # continues from the loaded next slots, not from its own empty memory
    assert torch.equal(fresh.memory, memory) and torch.equal(fresh.next_slot, next_slot)
    assert torch.equal(fresh.filled, filled)


def test_engine_host_labels_must_be_the_batchs():
    method = MBJ(3, 2, [1, 1], memory_per_class=2)
    method.global_labels = torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match="host labels"):
        method._store(torch.randn(3, 3), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="host labels"):
        method._store(torch.randn(2, 3), torch.tensor([0, 1]))


def test_prototype_memory_trains_step_after_step_keeping_each_steps_rows():
    """The ring written by one step's forward must not break that step's backward (it did, from the second step)."""
    torch.manual_seed(0)
    method = MBJ(3, 2, [4, 1], memory_per_class=2, prototype_memory=3, prototype_threshold=0.5)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.5)
    rows = []
    for step in range(4):
        rows.append(method.head.weight.detach().clone())   # the weights this step's forward sees
        features, labels = torch.randn(4, 3, requires_grad=True), torch.tensor([0, 1, 1, 0])  # a backbone's output
        out = method(features, labels)
        optimizer.zero_grad()
        method.per_sample_loss(out, labels).mean().backward()
        optimizer.step()
    # class 1 (p = 1) keeps the rows of steps 3, 1, 2 in slots 0, 1, 2; class 0 (p = 1/4) none
    assert torch.equal(method.prototypes[1], torch.stack([rows[3][1], rows[1][1], rows[2][1]]))
    assert method.prototype_filled[1].all() and not method.prototype_filled[0].any()
    assert not torch.equal(rows[3], rows[0])   # the head did learn, so the ring's rows differ
