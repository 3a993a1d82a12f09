"""DeviceFeaturePool (the update that reads nothing back) against the numpy pool and a recomputation from the raw
pool on the same stream; its deferred checks; no host read inside an update."""
import numpy as np
import pytest
import torch

from semscale.device_pool import DeviceFeaturePool
from semscale.pool import FeaturePool, weights_from_scratch
from test_pool_torch import DEVICES, _stream


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("C", [2, 12, 80])  # 2: often one class present alone
def test_device_pool_equals_numpy_pool_and_a_recomputation(C, device):
    rng = np.random.default_rng(5)
    d = 6
    reference = FeaturePool(C, d, warmup_epochs=2, alpha=2.0)
    ours = DeviceFeaturePool(C, d, warmup_epochs=2, alpha=2.0, device=device)
    seen_single = seen_absent = 0
    for epoch, features, labels in _stream(rng, 300, C, d):
        reference.update(features, labels, epoch)
        ours.update(torch.from_numpy(features).to(device), torch.from_numpy(labels).to(device), epoch)
        for use_interference in (True, False):
            np.testing.assert_allclose(ours.weights(use_interference), reference.weights(use_interference),
                                       rtol=1e-9, atol=0)
        for key, value in reference.scales().items():
            np.testing.assert_allclose(ours.scales()[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(ours.moments.counts.cpu().numpy(), reference.moments.counts, rtol=0, atol=0)
        np.testing.assert_array_equal(ours.present.cpu().numpy(), reference.present)
        seen_single += int((reference.moments.counts == 1).any())
        seen_absent += int((reference.moments.counts == 0).any())
    # The paper's way on the pool's raw contents: every class recomputed (pool.weights_from_scratch).
    raw, raw_labels = ours.contents()
    np.testing.assert_allclose(ours.weights(), weights_from_scratch(raw, raw_labels, C, alpha=2.0), rtol=1e-9)
    assert C == 2 or (seen_single > 10 and seen_absent > 10)   # the stream reached single-sample and absent classes


def test_device_pool_state_dict_round_trips_into_the_numpy_pool():
    rng = np.random.default_rng(6)
    ours, twin = DeviceFeaturePool(9, 4, warmup_epochs=1), FeaturePool(9, 4, warmup_epochs=1)
    for epoch, features, labels in _stream(rng, 40, 9, 4):
        ours.update(features, labels, epoch)
    twin.load_state_dict(ours.state_dict())
    np.testing.assert_allclose(twin.weights(), ours.weights(), rtol=1e-12)


@pytest.mark.parametrize("problem, message", [("nan", "features held NaN or Inf"), ("label", "a label was outside 0..4")])
def test_bad_input_is_raised_at_the_next_read_or_check(problem, message):
    pool = DeviceFeaturePool(5, 3, warmup_epochs=1, check_every=3)
    features, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 3])
    if problem == "nan":
        features[1, 2] = float("nan")
    else:
        labels[2] = 7
    pool.update(features, labels, 1)                 # no read: the update itself does not stop
    with pytest.raises(ValueError, match=message):
        pool.weights()
    fresh = DeviceFeaturePool(5, 3, warmup_epochs=1, check_every=3)
    fresh.update(features, labels, 1)
    fresh.update(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]), 1)
    with pytest.raises(ValueError, match=message):   # the third update is a check
        fresh.update(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]), 1)
    with pytest.raises(ValueError, match="expected \\(n, 3\\) features"):
        fresh.update(torch.randn(4, 2), torch.tensor([0, 1, 2, 3]), 1)


def test_an_update_reads_nothing_back(monkeypatch):
    """Every way a tensor reaches the host (item, bool, int, float, tolist, numpy, nonzero) fails inside update."""
    pool = DeviceFeaturePool(20, 4, warmup_epochs=1, check_every=0)
    rng = np.random.default_rng(7)
    batches = [(torch.from_numpy(f), torch.from_numpy(l), e) for e, f, l in _stream(rng, 30, 20, 4)]

    def forbidden(*args, **kwargs):
        raise AssertionError("a host read inside DeviceFeaturePool.update")

    for name in ("item", "__bool__", "__int__", "__float__", "tolist", "numpy", "nonzero", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    monkeypatch.setattr(torch, "nonzero", forbidden)
    monkeypatch.setattr(torch, "unique", forbidden)
    for features, labels, epoch in batches:
        pool.weights_tensor()                        # the weights a training step reads stay on the device too
        pool.update(features, labels, epoch)
    monkeypatch.undo()
    assert np.isfinite(pool.weights()).all()
