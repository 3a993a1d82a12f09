import pytest
import torch

from semscale.methods import METHODS, build_method

# Options a two-epoch toy run needs: DiVE's teacher, and decoupled methods' second stage within the 2 epochs.
OPTIONS = {"dive": {"teacher": torch.nn.Linear(4, 3)}, "crt": {"stage2_epochs": 1}, "lws": {"stage2_epochs": 1}}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_builds_and_predicts(name):
    method = build_method(name, 4, 3, [5, 3, 1], **OPTIONS.get(name, {}))
    if name == "tde":  # TDE's inference subtracts a moving-average direction learnt from training batches
        method.train()
        method(torch.randn(4, 4), torch.tensor([0, 1, 2, 0]))
    method.eval()
    assert method.predict(method(torch.randn(2, 4))).shape == (2, 3)


def test_unknown_method_and_option_are_named():
    with pytest.raises(ValueError, match="'nope'"):
        build_method("nope", 4, 3, [5, 3, 1])
    with pytest.raises(ValueError, match="tempreture"):
        build_method("paco", 4, 3, [5, 3, 1], tempreture=0.1)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_one_engine_step_per_method(name):
    """The engine's step as base.py writes it: forward, weighted per-sample terms, extra loss, backward."""
    from semscale.weighting import weighted_mean

    torch.manual_seed(0)
    method = build_method(name, 4, 3, [5, 3, 1], **OPTIONS.get(name, {}))
    method.train()
    method.on_epoch_start(1, 2)
    features, labels = torch.randn(6, 4, requires_grad=True), torch.tensor([0, 0, 1, 2, 0, 1])
    kwargs = {}
    if method.second_sampling_weights(1) is not None:
        kwargs["second"] = (torch.randn(6, 4), torch.tensor([2, 2, 1, 2, 0, 2]))
    output = method(features, labels, **kwargs)
    terms = method.per_sample_loss(output, labels)
    loss = weighted_mean(terms, method.loss_labels(output, labels), torch.tensor([0.5, 1.0, 1.5]))
    loss = loss + method.extra_loss(output, labels)
    assert torch.isfinite(loss)
    loss.backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()


@pytest.mark.parametrize("name", ["paco", "ride", "mbj", "dive"])
def test_methods_that_need_counts_say_so(name):
    with pytest.raises(ValueError, match="class counts"):
        build_method(name, 4, 3, None)
