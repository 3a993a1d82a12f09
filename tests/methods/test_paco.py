import math

import pytest
import torch

from semscale.methods.paco import PaCo
from semscale.weighting import weighted_mean

COUNTS = [6, 3, 1]


def _method(queue_size=0, **options):
    torch.manual_seed(0)
    method = PaCo(5, 3, COUNTS, queue_size=queue_size, projection_dim=4, **options)
    method.train()
    return method


def _plain_loop(method, features, labels, queue=(), queue_labels=()):
    """PaCo Eq. 8 anchor by anchor, positive by positive, with math.exp sums."""
    alpha, beta, gamma, tau, supt = method.alpha, method.beta, method.gamma, method.temperature, method.supt
    prior = [n / sum(COUNTS) for n in COUNTS]
    with torch.no_grad():
        centres = method.head(features).tolist()
        z = method.embed(features).tolist()
    contrast = [(z[j], int(labels[j]), j) for j in range(len(z))]
    contrast += [(q, int(c), None) for q, c in zip(queue, queue_labels)]
    losses = []
    for i in range(len(z)):
        s_c = [(centres[i][c] + math.log(prior[c])) / supt for c in range(3)]
        s_j = [(sum(a * b for a, b in zip(z[i], v)) / tau, c) for v, c, j in contrast if j != i]
        denominator = sum(math.exp(s) for s in s_c) + gamma * sum(math.exp(s) for s, _ in s_j)
        y = int(labels[i])
        total = beta * (s_c[y] - math.log(denominator))
        weight = beta
        for s, c in s_j:
            if c == y:
                total += alpha * (s - math.log(denominator))
                weight += alpha
        losses.append(-(tau / method.base_temperature) * total / weight)
    return losses


def test_loss_equals_plain_loop_over_anchors_and_positives():
    method = _method(alpha=0.3, beta=1.0, gamma=0.7, temperature=0.5, supt=1.5)
    features, labels = torch.randn(4, 5), torch.tensor([0, 1, 0, 2])
    expected = _plain_loop(method, features, labels)
    terms = method.per_sample_loss(method(features, labels), labels)
    assert torch.allclose(terms, torch.tensor(expected), atol=1e-5)


def test_queue_members_are_contrasted_and_positive():
    method = _method(queue_size=3, alpha=0.3, gamma=0.7, temperature=0.5)
    first, first_labels = torch.randn(3, 5), torch.tensor([2, 1, 2])
    method(first, first_labels)                              # fills the queue with these (detached) embeddings
    queue = method.embed(first).tolist()
    features, labels = torch.randn(4, 5), torch.tensor([0, 1, 0, 2])
    expected = _plain_loop(method, features, labels, queue, first_labels.tolist())
    terms = method.per_sample_loss(method(features, labels), labels)
    assert torch.allclose(terms, torch.tensor(expected), atol=1e-5)


def test_a_part_filled_queue_contrasts_only_its_filled_slots_and_keeps_them_on_resume():
    """Queue of 5 after batches of 2 and 2: 4 members (the empty slot is not a negative); a third batch wraps to
    slots 4, 0. A state dict written before the fill was saved (queue_pointer only) gives the same fill."""
    method = _method(queue_size=5, alpha=0.3, gamma=0.7, temperature=0.5)
    batches = [(torch.randn(2, 5), torch.tensor(c)) for c in ([2, 1], [0, 2], [1, 1])]
    for features, labels in batches[:2]:
        method(features, labels)
    queue = torch.cat([method.embed(f) for f, _ in batches[:2]]).tolist()
    queue_labels = [2, 1, 0, 2]
    features, labels = torch.randn(3, 5), torch.tensor([0, 1, 2])
    expected = _plain_loop(method, features, labels, queue, queue_labels)
    state = {k: v.clone() if torch.is_tensor(v) else v for k, v in method.state_dict().items()}  # not views
    terms = method.per_sample_loss(method(features, labels), labels)   # this batch enqueues 2 of its 3 ...
    assert torch.allclose(terms, torch.tensor(expected), atol=1e-5)
    assert method.queue_filled == 5 and method.queue_pointer == 2      # ... the last 3 wrap: slots 4, 0, 1
    for old_format in (False, True):
        resumed = _method(queue_size=5, alpha=0.3, gamma=0.7, temperature=0.5)
        saved = dict(state)
        if old_format:
            saved = {k: ({"queue_pointer": v["queue_pointer"]} if k.endswith("_extra_state") else v)
                     for k, v in saved.items()}
        resumed.load_state_dict(saved)
        assert (resumed.queue_pointer, resumed.queue_filled) == (4, 4)
        again = resumed.per_sample_loss(resumed(features, labels), labels)
        assert torch.allclose(again, terms, atol=1e-6)


def test_centre_term_alone_is_balanced_softmax_cross_entropy():
    method = _method(alpha=0.0, gamma=0.0)
    features, labels = torch.randn(4, 5), torch.tensor([0, 1, 0, 2])
    terms = method.per_sample_loss(method(features, labels), labels)
    logits = method.head(features) + torch.log(torch.tensor(COUNTS, dtype=torch.float) / 10)
    assert torch.allclose(terms, torch.nn.functional.cross_entropy(logits, labels, reduction="none"), atol=1e-6)


def test_dsb_weights_each_anchor_term():
    method = _method(alpha=0.3, gamma=0.7, temperature=0.5)
    features, labels = torch.randn(4, 5), torch.tensor([0, 1, 0, 2])
    expected = _plain_loop(method, features, labels)
    weights = torch.tensor([0.5, 1.0, 1.5])
    batch = weighted_mean(method.per_sample_loss(method(features, labels), labels), labels, weights)
    hand = sum(weights[int(y)].item() * loss for y, loss in zip(labels, expected)) / 4
    assert batch.item() == pytest.approx(hand, rel=1e-5)


def test_inference_logits_are_the_raw_centres():
    method = _method()
    method.eval()
    features = torch.randn(2, 5)
    assert torch.allclose(method.predict(method(features)), method.head(features))
