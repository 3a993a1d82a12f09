"""The engine trains every semscale.methods Method (TrainConfig.method), plain and DSB-X (base.py's contract)."""
import math

import numpy as np
import pytest
import torch

from semscale.engine import TrainConfig, Trainer
from semscale.engine.evaluation import evaluate
from semscale.methods.registry import METHODS
from semscale.models import build_network

COUNTS = [40, 12, 4]
TINY = dict(width=4, epochs=2, batch_size=16, warmup_epochs=1, device="cpu", threads=1, schedule="none")
DECOUPLED = ("crt", "lws")  # the two-stage methods
# cRT / LWS with stage 1 by IFL, its milestone at epoch 2 of 2 stage-1 epochs
WITH_IFL = {"stage2_epochs": 2, "stage1": "ifl", "stage1_options": {"milestones": [0.5], "centre_weights": [0.0, 0.01]}}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def imbalanced_set(counts=COUNTS, seed=0):
    """Random 1 x 8 x 8 images, brighter by class (something to learn), `counts` samples a class."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    images = torch.rand(len(labels), 1, 8, 8, generator=generator) + 0.3 * labels[:, None, None, None].float()
    return images, labels.numpy()


def feature_dim(width=4):
    return build_network("small_cnn", len(COUNTS), 1, width=width).backbone.out_features


def method_options(name):
    """Options that let each method show its mechanism within 2 epochs (stage switches inside the run)."""
    if name == "dive":   # a frozen teacher on the backbone's feature vector (DiVE's `teacher` option)
        torch.manual_seed(1)
        return {"teacher": torch.nn.Linear(feature_dim(), len(COUNTS))}
    if name in ("crt", "lws"):
        return {"stage2_epochs": 1}
    if name == "ride":
        return {"reweight_epoch": 1, "router_epochs": 1}
    return {}


def trainer_for(method, weighting="none", counts=COUNTS, checkpoint=None, options=None, **changes):
    images, labels = imbalanced_set(counts)
    config = TrainConfig(**{**TINY, **changes}, method=method, weighting=weighting,
                         method_options=method_options(method) if options is None else options)
    return Trainer(config, images, labels, len(counts), checkpoint=checkpoint, progress=False), images, labels


@pytest.mark.parametrize("weighting", ["none", "dsb"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_with_and_without_dsb(method, weighting):
    trainer, images, labels = trainer_for(method, weighting)
    history = trainer.fit()
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in history)
    metrics = evaluate(trainer.network, trainer.config, images, labels, trainer.counts)
    assert 0.0 <= metrics["top1"] <= 1.0 and np.isfinite(metrics["macro_ap"])
    if weighting == "dsb":   # DSB's re-weighting stage was reached: the class weights are no longer uniform
        assert not np.allclose(trainer.weighting.class_weights(2), 1.0)


@pytest.mark.parametrize("options", [{"memory_per_class": 4}, {"base": "crt", "base_options": {"stage2_epochs": 1}}],
                         ids=["mbj", "mbj-on-crt"])
def test_fit_hands_mbj_each_global_batchs_labels_on_the_host(options):
    """MBJ takes its memory's decisions from the host labels Trainer.fit gives every step (the epoch's order, cRT's
    class-balanced stage-2 order included), never reading them back; on a CPU they are checked against the batch's."""
    trainer, _, _ = trainer_for("mbj", "dsb", options=options)
    method, given = trainer.method, []
    check = method.labels_on_host
    method.labels_on_host = lambda labels: given.append(method.global_labels is not None) or check(labels)
    trainer.fit()
    assert len(given) == 2 * len(trainer.source) and all(given)


def test_default_config_key_is_unchanged_and_loss_conflict_is_refused():
    assert TrainConfig().key() == TrainConfig(method="", method_options={}).key()
    assert TrainConfig(method="bbn").key() != TrainConfig().key()
    with pytest.raises(ValueError, match="loss 'focal' and method 'bbn'"):
        TrainConfig(method="bbn", loss="focal")


def test_bbn_second_batches_follow_the_reversed_sampler():
    counts = [200, 20, 5]
    trainer, _, labels = trainer_for("bbn", counts=counts, epochs=2, batch_size=25)
    first, second, alphas = [], [], {}
    forward = trainer.method.forward

    def spy(features, labels=None, **kwargs):
        if "second" in kwargs and trainer.epoch == 0:   # the first epoch's batches
            first.append(labels.clone())
            second.append(kwargs["second"][1].clone())
        alphas.setdefault(trainer.epoch + 1, set()).add(trainer.method.alpha)
        return forward(features, labels, **kwargs)

    trainer.method.forward = spy
    trainer.fit()
    # on_epoch_start ran before each epoch: BBN Eq. 1, alpha = 1 - ((epoch - 1) / T_max)^2 = 1, then 0.75
    assert alphas == {1: {1.0}, 2: {0.75}}
    # the conventional branch: every sample once (instance-balanced order)
    assert np.bincount(torch.cat(first).numpy(), minlength=3).tolist() == counts
    # the reversed branch: class i with p_i = (1 / n_i) / sum_j (1 / n_j) (BBN Sec. 3.2), by hand for n = 200, 20, 5
    expected = np.array([1 / 200, 1 / 20, 1 / 5]) / (1 / 200 + 1 / 20 + 1 / 5)      # 0.0196, 0.196, 0.784
    drawn = np.bincount(torch.cat(second).numpy(), minlength=3) / len(labels)
    assert np.abs(drawn - expected).max() < 0.08, (drawn, expected)


def test_crt_second_stage_leaves_the_backbone_unchanged():
    trainer, _, _ = trainer_for("crt", epochs=2)
    snapshots = {}

    def keep(trainer, record):
        snapshots[record["epoch"]] = ({k: v.clone() for k, v in trainer.network.backbone.state_dict().items()},
                                      trainer.method.head.weight.detach().clone())

    trainer.fit(on_epoch=keep)
    (backbone1, head1), (backbone2, head2) = snapshots[1], snapshots[2]
    for name, tensor in backbone1.items():   # weights and batch-norm running statistics alike
        assert torch.equal(tensor, backbone2[name]), name
    assert not torch.equal(head1, head2)    # while the classifier was re-trained
    assert trainer.backbone_frozen
    assert all(p.grad is None for p in trainer.network.backbone.parameters())   # no gradient reached it


def test_class_sampled_order_draws_classes_by_weight_and_members_uniformly():
    from semscale.engine.method_network import class_sampled_order

    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    draws = torch.cat([class_sampled_order(labels, [0.5, 0.5, 0.0], 0, epoch, 11) for epoch in range(1, 401)])
    per_index = np.bincount(draws.numpy(), minlength=10) / len(draws)
    # class 0's 6 members share 0.5, class 1's 3 share 0.5, class 2 never: 1/12 and 1/6 each
    assert np.abs(per_index - np.array([1 / 12] * 6 + [1 / 6] * 3 + [0.0])).max() < 0.01
    again = class_sampled_order(labels, [0.5, 0.5, 0.0], 0, 7, 11)
    assert torch.equal(again, class_sampled_order(labels, [0.5, 0.5, 0.0], 0, 7, 11))   # a function of the seeds
    assert not torch.equal(again, class_sampled_order(labels, [0.5, 0.5, 0.0], 0, 7, 12))
    # a class without training samples cannot be drawn, whatever its weight
    empty = class_sampled_order(torch.tensor([0, 0, 1]), [1.0, 1.0, 1.0], 0, 1, 11)   # raised an IndexError
    assert len(empty) == 3 and set(empty.tolist()) <= {0, 1, 2}


def test_class_weights_are_indexed_by_the_methods_loss_labels(monkeypatch):
    import semscale.weighting

    trainer, _, _ = trainer_for("bbn", "dsb", epochs=2)
    calls, pairs, returned = [], [], []
    original_mean, forward = semscale.weighting.weighted_mean, trainer.method.forward
    class_weights = trainer.weighting.class_weights

    def spy_mean(per_sample, labels, weights):
        calls.append((per_sample.shape[0], labels.clone(), weights))
        return original_mean(per_sample, labels, weights)

    def spy_forward(features, labels=None, **kwargs):
        if "second" in kwargs:
            pairs.append(torch.cat([labels, kwargs["second"][1]]))
        return forward(features, labels, **kwargs)

    def spy_weights(epoch):
        returned.append(class_weights(epoch))
        return returned[-1]

    monkeypatch.setattr(semscale.weighting, "weighted_mean", spy_mean)
    trainer.method.forward, trainer.weighting.class_weights = spy_forward, spy_weights
    trainer.fit()
    assert len(calls) == len(pairs) == len(returned) == 2 * math.ceil(sum(COUNTS) / 16)
    for (terms, labels, weights), pair, given in zip(calls, pairs, returned):
        assert terms == len(pair) and torch.equal(labels, pair)    # [y_c ; y_r]: BBN's loss_labels
        assert weights is given                                    # the weighting's weights, unchanged
    assert calls[0][2] is None or np.allclose(calls[0][2], 1.0)    # warm-up: no re-weighting yet
    assert not np.allclose(calls[-1][2], 1.0)                      # epoch 2: DSB's weights


def test_class_sampled_order_with_instance_weights():
    from semscale.engine.method_network import class_sampled_order

    labels, weights = torch.tensor([0, 0, 0, 1]), [1.0, 2.0, 1.0, 5.0]
    draws = torch.cat([class_sampled_order(labels, [0.5, 0.5], 0, epoch, 12, weights) for epoch in range(1, 2001)])
    # class 0 gets 0.5 split 1:2:1, class 1's only member 0.5
    np.testing.assert_allclose(np.bincount(draws.numpy(), minlength=4) / len(draws), [0.125, 0.25, 0.125, 0.5],
                               atol=0.01)


def test_ifl_second_environment_is_re_estimated_by_the_engine(monkeypatch):
    import semscale.engine.method_training as training
    from semscale.methods.ifl import intra_class_weights

    options = {"milestones": [0.34], "centre_weights": [0.0, 0.001]}   # milestone epoch round(0.34 * 3) + 1 = 2
    trainer, images, labels = trainer_for("ifl", options=options, epochs=3)
    seen, instance_args = {}, []
    end_of_epoch, order = trainer.method.end_of_epoch, training.class_sampled_order

    def spy_end(epoch, epoch_labels, probs):
        network = trainer.network.eval()
        with torch.no_grad():   # p(y_i | x_i) by hand: softmax of the head on the backbone's features
            expected = torch.softmax(network.method.head(network.backbone(images)).double(), 1)
        network.train()
        np.testing.assert_allclose(probs, expected[torch.arange(len(labels)), torch.as_tensor(labels)].numpy(),
                                   rtol=1e-5)
        assert np.array_equal(epoch_labels, labels)
        seen[epoch] = probs
        end_of_epoch(epoch, epoch_labels, probs)

    def spy_order(*args):
        instance_args.append(args[5] if len(args) > 5 else None)
        return order(*args)

    trainer.method.end_of_epoch = spy_end
    monkeypatch.setattr(training, "class_sampled_order", spy_order)
    trainer.fit()
    assert sorted(seen) == [2]   # the inference pass runs only at IFL's milestone epoch
    np.testing.assert_allclose(trainer.method.env2_weights, intra_class_weights(labels, seen[2]))
    assert instance_args[:2] == [None, None] and instance_args[2] is trainer.method.env2_weights   # epoch 3's


def test_crt_with_ifl_stage1_runs_ifl_then_a_frozen_stage2(monkeypatch):
    import semscale.engine.method_training as training

    options = {**WITH_IFL, "stage2_epochs": 1}   # 3 epochs: IFL over 1-2 (milestone epoch 2), cRT's stage 2 at 3
    trainer, images, labels = trainer_for("crt", options=options, epochs=3)
    passes, seconds, order = [], [], training.class_sampled_order

    def spy_order(labels_, weights, seed, epoch, stream, *rest):
        seconds.append((epoch, stream, rest[0] if rest else None))
        return order(labels_, weights, seed, epoch, stream, *rest)

    end = trainer.method.stage1.end_of_epoch
    trainer.method.stage1.end_of_epoch = lambda epoch, *a: (passes.append(epoch), end(epoch, *a))
    monkeypatch.setattr(training, "class_sampled_order", spy_order)
    backbone = {k: v.clone() for k, v in trainer.network.backbone.state_dict().items()}
    trainer.fit(on_epoch=lambda t, record: record["epoch"] == 2 and backbone.update(
        {k: v.clone() for k, v in t.network.backbone.state_dict().items()}))
    assert passes == [2]                                      # IFL's inference pass at its milestone, in stage 1
    second = [(e, w is not None) for e, stream, w in seconds if stream == training.SECOND_STREAM]
    assert second == [(1, False), (2, False)]                 # IFL's env 2 in stage 1 only (re-estimated after 2)
    main = [e for e, stream, _ in seconds if stream == training.MAIN_STREAM]
    assert main == [3]                                        # stage 2's class-balanced order
    assert trainer.method.stage1.env2_weights is not None
    for key, value in trainer.network.backbone.state_dict().items():   # stage 2 leaves the backbone as it was
        assert torch.equal(value, backbone[key]), key
