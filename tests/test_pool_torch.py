"""The pool on torch (on the CPU, and on a GPU under SEMSCALE_TEST_GPU=1 where there is one) against the numpy pool
on the same stream."""
import numpy as np
import pytest
import torch

from semscale.pool import FeaturePool, dsb_weights, pool_ops, scales_from_parts


def _stream(rng, steps, num_classes, dim):
    """Skewed batches of varying size: classes enter, leave, and hold a single sample."""
    drift = rng.normal(size=(num_classes, dim)) * 3
    rare = num_classes // 2
    p = np.r_[np.full(num_classes - rare, 0.9 / (num_classes - rare)), np.full(rare, 0.1 / rare)]
    for step in range(steps):
        size = int(rng.integers(1, 14))
        labels = rng.choice(num_classes, size=size, p=p)
        features = drift[labels] + rng.normal(size=(size, dim)) * rng.uniform(0.2, 2.0) + 0.01 * step
        yield 1 + step // 8, features.astype(np.float32), labels


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no GPU visible (SEMSCALE_TEST_GPU=1 shows one)"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("C", [12, 80])  # 80: the distance sums take the incremental rows, not a full recompute
def test_torch_pool_equals_numpy_pool_on_the_same_stream(C, device):
    rng = np.random.default_rng(11)
    d = 6
    reference = FeaturePool(C, d, warmup_epochs=2, alpha=2.0)
    ours = FeaturePool(C, d, warmup_epochs=2, alpha=2.0, device=device, backend="torch")
    assert ours.ops.name == "torch" and reference.ops.name == "numpy"
    seen_single = seen_absent = 0
    for epoch, features, labels in _stream(rng, 300, C, d):
        reference.update(features, labels, epoch)
        # Tensors for the torch pool, as a training loop hands them over.
        changed = ours.update(torch.from_numpy(features).to(device), torch.from_numpy(labels).to(device), epoch)
        assert isinstance(changed, torch.Tensor)
        for use_interference in (True, False):
            expected = reference.weights(use_interference)
            got = ours.weights(use_interference)
            assert isinstance(got, np.ndarray) and got.dtype == np.float64
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)
            tensor = ours.weights_tensor(use_interference)
            assert tensor.dtype == torch.float64 and tensor.device.type == device
            np.testing.assert_array_equal(tensor.cpu().numpy(), got)
        np.testing.assert_array_equal(ours.present.cpu().numpy(), reference.present)
        counts = reference.moments.counts
        seen_single += int((counts == 1).any())
        seen_absent += int((counts == 0).any())
    assert seen_single > 10 and seen_absent > 10
    np.testing.assert_array_equal(ours.contents()[1], reference.contents()[1])


def test_numpy_pool_takes_tensors_and_gives_a_tensor_view():
    rng = np.random.default_rng(2)
    pool, twin = FeaturePool(4, 3), FeaturePool(4, 3)
    for epoch in (1, 1, 2, 2):
        features, labels = rng.normal(size=(6, 3)), rng.integers(0, 4, 6)
        pool.update(torch.from_numpy(features), torch.from_numpy(labels), epoch)
        twin.update(features, labels, epoch)
    np.testing.assert_array_equal(pool.weights(), twin.weights())
    assert isinstance(pool.weights_tensor(), torch.Tensor)
    np.testing.assert_array_equal(pool.weights_tensor().numpy(), twin.weights())


def test_checkpoints_cross_backends():
    rng = np.random.default_rng(4)
    numpy_pool = FeaturePool(5, 3, warmup_epochs=1)
    for epoch in (1, 1, 2, 2, 3):
        numpy_pool.update(rng.normal(size=(7, 3)), rng.integers(0, 5, 7), epoch)
    torch_pool = FeaturePool(5, 3, warmup_epochs=1, device="cpu", backend="torch")
    torch_pool.load_state_dict(numpy_pool.state_dict())
    features, labels = rng.normal(size=(7, 3)), rng.integers(0, 5, 7)
    numpy_pool.update(features, labels, 4)
    torch_pool.update(torch.from_numpy(features), torch.from_numpy(labels), 4)
    np.testing.assert_allclose(torch_pool.weights(), numpy_pool.weights(), rtol=1e-12)
    state = torch_pool.state_dict()
    assert all(isinstance(f, np.ndarray) for f, _ in state["batches"])  # device-independent
    back = FeaturePool(5, 3, warmup_epochs=1)
    back.load_state_dict(state)
    np.testing.assert_allclose(back.weights(), numpy_pool.weights(), rtol=1e-12)


def test_torch_pool_rejects_bad_batches():
    pool = FeaturePool(3, 2, device="cpu", backend="torch")
    with pytest.raises(ValueError, match="label is >= num_classes=3"):
        pool.update(torch.zeros(2, 2), torch.tensor([0, 3]), 1)
    with pytest.raises(ValueError, match="NaN or Inf"):
        pool.update(torch.tensor([[0.0, float("nan")]]), torch.tensor([0]), 1)
    with pytest.raises(ValueError, match="dimension 3"):
        pool.update(torch.zeros(2, 3), torch.tensor([0, 1]), 1)


def test_backend_choice():
    assert pool_ops(None).name == "numpy" and pool_ops("cpu").name == "numpy"
    assert pool_ops("cpu", "torch").name == "torch"
    with pytest.raises(ValueError, match="backend 'numpy' runs on the host"):
        pool_ops("cuda", "numpy")


def test_weights_helpers_on_tensors_by_hand():
    weights = dsb_weights(torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))
    assert isinstance(weights, torch.Tensor)
    np.testing.assert_allclose(weights.numpy(), np.array([1, 2, 2]) * 3 / 5)
    out = scales_from_parts(torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64),
                            torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64), torch.tensor([True, False, True]), 1.0)
    np.testing.assert_allclose(out["S_prime"].numpy(), [1.0, 0.0, 0.5])


def test_geometry_functions_take_tensors_and_stay_torch():
    from semscale.scales import distance_sums, pairwise_distances
    from semscale.volume import half_log2det_identity_plus, volume_from_scatter

    rng = np.random.default_rng(8)
    samples = rng.normal(size=(5, 20, 4))
    scatters = np.einsum("kni,knj->kij", samples, samples)
    counts = np.array([20.0, 20.0, 1.0, 0.0, 3.0])
    expected = volume_from_scatter(scatters, counts, 4.0)
    got = volume_from_scatter(torch.from_numpy(scatters), torch.from_numpy(counts), 4.0)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(half_log2det_identity_plus(torch.from_numpy(scatters), 0.5).numpy(),
                               half_log2det_identity_plus(scatters, 0.5), rtol=1e-12)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(9, 3))
    np.testing.assert_allclose(pairwise_distances(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
                               np.linalg.norm(a[:, None] - b[None], axis=2), rtol=1e-9)
    sums, signed = distance_sums(torch.from_numpy(a), torch.from_numpy(b), torch.ones(6, dtype=torch.float64))
    np.testing.assert_allclose(sums.numpy(), np.linalg.norm(a[:, None] - b[None], axis=2).sum(1), rtol=1e-9)
    np.testing.assert_allclose(signed.numpy(), np.linalg.norm(a[:, None] - b[None], axis=2).sum(0), rtol=1e-9)


@pytest.mark.parametrize("backend, given", [("numpy", "array"), ("numpy", "tensor"), ("torch", "tensor")])
def test_the_pool_owns_its_batches(backend, given):
    # A caller that reuses its buffers (a training loop's feature and label tensors) must not change what the pool
    # subtracts later: a numpy pool fed CPU tensors takes views of them, so it must copy features and labels.
    rng = np.random.default_rng(6)
    pool = FeaturePool(3, 2, warmup_epochs=1, backend=backend)
    twin = FeaturePool(3, 2, warmup_epochs=1)
    buffer, label_buffer = torch.zeros(6, 2), torch.zeros(6, dtype=torch.int64)
    for epoch in (1, 1, 2, 2, 2):
        values = rng.normal(size=(6, 2)).astype(np.float32)
        labels = rng.permutation([0, 0, 1, 1, 2, 2])
        buffer.copy_(torch.from_numpy(values))
        label_buffer.copy_(torch.from_numpy(labels))
        if given == "tensor":
            pool.update(buffer, label_buffer, epoch)
        else:
            pool.update(buffer.numpy(), label_buffer.numpy(), epoch)
        twin.update(values.copy(), labels.copy(), epoch)
    np.testing.assert_allclose(pool.weights(), twin.weights(), rtol=1e-12)
    for (features, labels), (expected, expected_labels) in zip(pool.batches, twin.batches):
        np.testing.assert_array_equal(pool.ops.to_numpy(features), expected)
        np.testing.assert_array_equal(pool.ops.to_numpy(labels), expected_labels)


@pytest.mark.parametrize("labels, message", [
    (torch.tensor([0, -1]), "negative label -1"), (torch.tensor([0, 3]), "label 3 is out of range for num_classes=3"),
    (torch.tensor([0.0, 1.5]), "whole numbers; position 1"), (torch.tensor([True, False]), "integer class labels"),
    (torch.tensor([0, 1, 2]), "3 labels for 2 samples")])
def test_numpy_pool_names_the_fault_in_cpu_tensor_labels(labels, message):
    pool = FeaturePool(3, 2)
    with pytest.raises(ValueError, match=message):
        pool.update(torch.zeros(2, 2), labels, 1)
    assert len(pool) == 0


def test_numpy_pool_names_the_fault_in_cpu_tensor_features():
    pool = FeaturePool(3, 2)
    with pytest.raises(ValueError, match=r"1 row\(s\) contain NaN or Inf \(first rows: \[1\]\)"):
        pool.update(torch.tensor([[0.0, 1.0], [float("inf"), 0.0]]), torch.tensor([0, 1]), 1)
    with pytest.raises(ValueError, match="dimension 3, the pool holds 2"):
        pool.update(torch.zeros(2, 3), torch.tensor([0, 1]), 1)
    assert len(pool) == 0
