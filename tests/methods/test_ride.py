import math

import pytest
import torch
import torch.nn.functional as F

from semscale.methods.ride import RIDE, diversity_temperatures, router_targets
from semscale.weighting import weighted_mean

COUNTS = [8, 4, 2, 1]


def _method(**options):
    torch.manual_seed(0)
    method = RIDE(5, 4, COUNTS, num_experts=3, expert_dim=6, top_choices=2, **options)
    method.train()
    return method


def _softmax(values, temps):
    exps = [math.exp(v / t) for v, t in zip(values, temps)]
    return [e / sum(exps) for e in exps]


def test_diversity_temperatures_by_hand():
    # N = 15, C = 4, r = 0.5: w = 4 n / 15 * 0.5 + 0.5 -> n=8: 1.5667, n=1: 0.6333; divided by the max, times T_0 = 2
    temps = diversity_temperatures(COUNTS, 2.0, 0.5)
    raw = [4 * n / 15 * 0.5 + 0.5 for n in COUNTS]
    assert torch.allclose(temps, torch.tensor([2.0 * w / max(raw) for w in raw]))
    assert temps[0] > temps[-1]                                   # head classes keep the higher temperature


def test_diversity_term_equals_plain_loop_kl():
    method = _method(reweight_factor=0.5, base_diversity_temperature=2.0, diversity_factor=-0.2)
    method.on_epoch_start(81, 100)                                # frequency-aware temperatures are on
    features = torch.randn(3, 5)
    z = method(features, torch.tensor([0, 1, 3])).extras["expert_logits"].tolist()
    temps = diversity_temperatures(COUNTS, 2.0, 0.5).tolist()
    mean_t = sum(temps) / 4
    got = method.diversity(torch.tensor(z))
    for k in range(3):
        for i in range(3):
            ensemble = [sum(z[j][i][c] for j in range(3)) / 3 for c in range(4)]
            p, q = _softmax(ensemble, temps), _softmax(z[k][i], temps)
            kl = sum(pc * math.log(pc / qc) for pc, qc in zip(p, q))
            assert got[k, i].item() == pytest.approx(-0.2 * mean_t ** 2 * kl, rel=1e-4, abs=1e-6)


def test_scalar_temperature_before_reweighting():
    method = _method(base_diversity_temperature=1.5)
    method.on_epoch_start(80, 100)
    z = torch.randn(3, 2, 4) * 5
    ensemble = F.softmax(z.mean(0) / 1.5, 1)
    expected = -0.2 * 1.5 ** 2 * (ensemble * (ensemble.log() - F.log_softmax(z[1] / 1.5, 1))).sum(1)
    assert torch.allclose(method.diversity(z)[1], expected, atol=1e-5)


def test_per_expert_ldam_and_dsb_weighting():
    method = _method(diversity_factor=0.0)
    method.on_epoch_start(1, 100)
    features, labels = torch.randn(4, 5), torch.tensor([0, 1, 3, 3])
    out = method(features, labels)
    cosines = (out.extras["expert_logits"] / 30).tolist()
    margins = [n ** -0.25 for n in COUNTS]
    margins = [m * 0.5 / max(margins) for m in margins]
    weights = [0.5, 1.0, 1.5, 2.0]
    hand = 0.0
    for i, y in enumerate(labels.tolist()):
        per_sample = 0.0
        for k in range(3):
            shifted = [30 * (c - (margins[y] if j == y else 0.0)) for j, c in enumerate(cosines[k][i])]
            per_sample += -(shifted[y] - math.log(sum(math.exp(v) for v in shifted)))
        hand += weights[y] * per_sample
    batch = weighted_mean(method.per_sample_loss(out, labels), labels, torch.tensor(weights))
    assert batch.item() == pytest.approx(hand / 4, rel=1e-5)


def test_router_targets_by_hand():
    # 3 experts, 2 samples, 2 classes; sample 0 (label 0): expert means 1 wrong, 1+2 wrong, 1+2+3 right -> [1, 1]
    # sample 1 (label 1): first expert right -> no help needed -> [0, 0]
    logits = torch.tensor([[[0.0, 1.0], [0.0, 1.0]],
                           [[0.5, 0.0], [0.0, 1.0]],
                           [[2.0, 0.0], [1.0, 0.0]]])
    assert torch.equal(router_targets(logits, torch.tensor([0, 1])), torch.tensor([[1.0, 1.0], [0.0, 0.0]]))


def test_router_stage_trains_only_the_router_with_its_loss():
    method = _method(router_epochs=2, pos_weight=3.0)
    method.on_epoch_start(99, 100)
    assert not method.trains_backbone(99)
    assert torch.allclose(method.sampling_weights(99), torch.full((4,), 0.25))
    features, labels = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 0, 1])
    out = method(features, labels)
    assert torch.count_nonzero(method.per_sample_loss(out, labels)) == 0
    targets = router_targets(out.extras["expert_logits"], labels)
    r = out.extras["router_logits"]
    hand = -(3.0 * targets * F.logsigmoid(r) + (1 - targets) * F.logsigmoid(-r)).mean()
    loss = method.extra_loss(out, labels)
    assert loss.item() == pytest.approx(hand.item(), rel=1e-6)
    loss.backward()
    assert method.router_out.weight.grad is not None
    assert all(p.grad is None for p in method.classifiers.parameters())
    frozen = [*method.branches.parameters(), *method.classifiers.parameters()]
    assert not any(p.requires_grad for p in frozen)                   # weight decay leaves the experts alone


def test_routed_inference_averages_the_experts_used():
    method = _method(router_epochs=1)
    method.on_epoch_start(100, 100)
    method.eval()
    with torch.no_grad():
        method.router_out.bias.fill_(-50.0)                       # every router says stop
        features = torch.randn(3, 5)
        out = method(features)
        assert torch.equal(out.extras["experts_used"], torch.ones(3, dtype=torch.long))
        assert torch.allclose(out.logits, out.extras["expert_logits"][0])
        method.router_out.bias.fill_(50.0)                        # every router says go on
        out = method(features)
        assert torch.equal(out.extras["experts_used"], torch.full((3,), 3))
        assert torch.allclose(out.logits, out.extras["expert_logits"].mean(0))


def test_a_stopped_sample_never_resumes():
    method = _method(router_epochs=1)
    method.on_epoch_start(100, 100)
    method.eval()
    with torch.no_grad():
        method.router_out.weight.zero_()
        method.router_out.weight[0, method.top_choices:] = 1.0   # the routers read only their hidden features
        method.router_out.bias.fill_(-1.0)
        for hidden, bias in zip(method.router_hidden, (0.0, 5.0)):   # router 0 says stop, router 1 says go on
            hidden.weight.zero_()
            hidden.bias.fill_(bias)
        out = method(torch.randn(3, 5))
    assert torch.equal(out.extras["experts_used"], torch.ones(3, dtype=torch.long))
