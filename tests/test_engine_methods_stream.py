"""A method's second sampler (BBN's reversed batches, IFL's second environment) and IFL's end-of-epoch inference pass
on a streamed file dataset: the same training as on the in-memory copy of the same pixels."""
import numpy as np
import pytest
import torch

from semscale.engine import TrainConfig, Trainer
from test_experiment_evaluation import twin_sets  # noqa: F401 - the fixture: 24 images in memory and as PNG files

CASES = [("bbn", {}), ("ifl", {"milestones": [0.34], "centre_weights": [0.0, 0.001]})]  # IFL re-estimates at epoch 2


@pytest.mark.parametrize("method, options", CASES)
def test_streamed_second_sampler_trains_as_the_in_memory_one(twin_sets, method, options):  # noqa: F811
    memory, files = twin_sets
    config = TrainConfig(epochs=3, batch_size=8, width=4, seed=3, device="cpu", workers=0, threads=1,
                         method=method, method_options=options, weighting="dsb", warmup_epochs=1, schedule="none",
                         optimizer="sgd", lr=0.05)  # Adam would blow float noise in pre-BatchNorm biases up to lr
    in_memory, streamed = Trainer(config, memory, progress=False), Trainer(config, files, progress=False)
    assert in_memory.images is not None and streamed.images is None  # the two paths
    in_memory.fit()
    streamed.fit()
    assert [h["loss"] for h in streamed.history] == pytest.approx([h["loss"] for h in in_memory.history], rel=1e-6)
    for name, tensor in in_memory.network.state_dict().items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            torch.testing.assert_close(streamed.network.state_dict()[name], tensor, rtol=1e-5, atol=1e-6)
    if method == "ifl":  # the second environment came from the streamed inference pass
        assert streamed.method.env2_weights is not None
        np.testing.assert_allclose(streamed.method.env2_weights, in_memory.method.env2_weights, rtol=1e-4,
                                   atol=1e-9)  # p(y|x) of two float paths: rounding


def test_second_sampler_draws_its_own_augmentation_seeds(twin_sets):  # noqa: F811
    _, files = twin_sets
    config = TrainConfig(epochs=1, batch_size=8, width=4, seed=3, device="cpu", workers=0, method="bbn",
                         augment="cifar", image_size=8)
    trainer = Trainer(config, files, progress=False)
    trainer._start_method_epoch(1)
    second = trainer._second_batches(1)
    assert trainer._second_source.sampler.seed != trainer.source.sampler.seed
    main_items = next(iter(trainer.source.sampler))
    second_items = next(iter(trainer._second_source.sampler))
    assert {s for _, s in main_items}.isdisjoint({s for _, s in second_items})
    images, labels = next(iter(second))
    assert images.shape == (8, 1, 8, 8) and len(labels) == 8
