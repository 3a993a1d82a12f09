"""MixUp / CutMix inside a training step: the loss the Trainer optimises, written out by hand, and the label the pool
stores for a mixed image."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semscale.data import load_dataset
from semscale.engine.loader import derived_seed
from semscale.mixing import BatchMixer
from semscale.train import TrainConfig, Trainer


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixed_step_loss_by_hand(kind):
    train = load_dataset("digits", "train")
    config = TrainConfig(width=4, batch_size=64, weighting="cb", weighting_options={"beta": 0.999}, mix=kind,
                         mix_alpha=0.4, seed=2, threads=1)
    trainer = Trainer(config, train, progress=False)
    model = copy.deepcopy(trainer.network)  # the weights before the step
    images = torch.from_numpy(train.images[:64].astype(np.float32) / 255).permute(0, 3, 1, 2)
    labels = torch.as_tensor(train.labels[:64])
    loss, _, pooled_labels = trainer.train_step(images, labels, epoch=4, step=9)
    generator = torch.Generator().manual_seed(derived_seed(2, 4, 9, 0, 1))
    mixed, a, b, lam = BatchMixer(kind, 0.4, 10)(images, labels, generator)
    logits = model(mixed)[0]
    w = torch.as_tensor(trainer.weighting.class_weights(4), dtype=torch.float32)
    by_hand = [lam * w[a[i]] * F.cross_entropy(logits[i:i + 1], a[i:i + 1])
               + (1 - lam) * w[b[i]] * F.cross_entropy(logits[i:i + 1], b[i:i + 1]) for i in range(64)]
    assert float(loss) == pytest.approx(float(torch.stack(by_hand).mean().detach()), rel=1e-5)
    assert 0 < lam < 1 and not torch.equal(a, b)
    assert torch.equal(pooled_labels, a if lam >= 0.5 else b)  # training accuracy counts the majority label


def test_pool_stores_a_mixed_image_under_its_majority_label():
    train = load_dataset("digits", "train")
    config = TrainConfig(width=4, batch_size=64, weighting="dsb", mix="mixup", mix_alpha=0.4, seed=5, threads=1)
    trainer = Trainer(config, train, progress=False)
    images = torch.from_numpy(train.images[:64].astype(np.float32) / 255).permute(0, 3, 1, 2)
    labels = torch.as_tensor(train.labels[:64])
    majorities, lams = [], []
    for step in range(10):
        trainer.train_step(images, labels, epoch=1, step=step)
        generator = torch.Generator().manual_seed(derived_seed(5, 1, step, 0, 1))
        _, a, b, lam = BatchMixer("mixup", 0.4, 10)(images, labels, generator)
        majorities.append(a if lam >= 0.5 else b)
        lams.append(lam)
    assert min(lams) < 0.5 < max(lams)  # both cases occur
    assert trainer.pool.contents()[1].tolist() == torch.cat(majorities).tolist()
