"""A training step reads nothing back to the host, so that on a GPU the host can queue the backward pass behind the
forward (issue 9's img/s targets). Checked on torch's meta device, where tensors have shapes and no values: any
host read (item, bool, a boolean mask, nonzero, bincount's size) raises there, in Python or inside an operator.
The steps get the global batch's host labels, as Trainer.fit gives them: MBJ decides its memory's slots from them."""
import numpy as np
import pytest
import torch

import semscale.engine.trainer as trainer_module
from semscale.engine import TrainConfig, Trainer
from semscale.engine.trainer import tally
from semscale.pool import FeaturePool

CASES = [dict(weighting="dsb"), dict(weighting="dsb1"), dict(weighting="cb"), dict(weighting="cdb"),
         dict(loss="focal", weighting="dsb"), dict(loss="ldam", head="cosine", weighting="dsb"),
         dict(loss="bs", weighting="dsb"), dict(loss="lade", weighting="dsb"), dict(mix="mixup", weighting="dsb"),
         dict(mix="cutmix", weighting="dsb"), dict(optimizer="sgd", weighting="dsb"),
         dict(task="metric", loss="nsm", weighting="dsb"), dict(task="metric", loss="st", weighting="dsb"),
         dict(task="metric", loss="circle", weighting="dsb"), dict(method="ce", weighting="dsb"),
         dict(method="bbn", weighting="dsb"), dict(method="ride", weighting="dsb"),
         dict(method="paco", weighting="dsb"), dict(method="blsoftmax", weighting="dsb"),
         dict(method="tde", weighting="dsb"), dict(method="ifl", weighting="dsb"),
         # epochs 4 with one stage-2 epoch: epoch 4 is cRT's / LWS's re-balanced classifier stage
         dict(method="crt", method_options={"stage2_epochs": 1}, epochs=4, weighting="dsb"),
         dict(method="lws", method_options={"stage2_epochs": 1}, epochs=4, weighting="dsb"),
         dict(method="mbj", weighting="dsb"), dict(method="mbj", method_options={"replay": 5}, weighting="none"),
         dict(method="mbj", method_options={"prototype_memory": 2}, weighting="dsb"),
         dict(method="mbj", method_options={"base": "ride"}, weighting="dsb"),
         # DiVE's frozen teacher on the backbone's 128 features (width 4)
         dict(method="dive", method_options={"teacher": torch.nn.Linear(128, 4)}, weighting="dsb")]


def case_id(case: dict) -> str:
    return "-".join("+".join(v) if k == "method_options" else str(v) for k, v in case.items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_training_step_reads_nothing_back(monkeypatch, case):
    """Stages 1 to 3 (the pool filled, then re-weighting; a decoupled method's second stage too), and the epoch's
    accuracy tally, all on meta tensors."""
    monkeypatch.setattr(trainer_module, "resolve_device", lambda name: torch.device("meta"))
    rng = np.random.default_rng(0)
    images, labels = rng.random((64, 8, 8, 1), dtype=np.float32), np.arange(64) % 4
    trainer = Trainer(TrainConfig(warmup_epochs=1, width=4, batch_size=16, **case), images, labels, 4, progress=False)
    assert trainer.device.type == "meta"
    x, y = torch.randn(16, 1, 8, 8, device="meta"), torch.zeros(16, dtype=torch.int64, device="meta")
    host_labels = torch.arange(16) % 4
    correct = torch.zeros(4, dtype=torch.long, device="meta")
    seen = torch.zeros_like(correct)
    second = (x, y) if case.get("method") in ("bbn", "ifl") else None
    for epoch in range(1, case.get("epochs", 3) + 1):
        if trainer.method is not None:
            trainer._start_method_epoch(epoch)
        loss, outputs, batch_labels = trainer.train_step(x, y, epoch, second=second, global_labels=host_labels)
        if trainer.config.task == "classification":
            tally(correct, seen, outputs, batch_labels)
    assert loss.device.type == "meta"


GPU_CASES = [dict(weighting="dsb"), dict(mix="cutmix", weighting="dsb"), dict(method="paco", weighting="dsb"),
             dict(task="metric", loss="st", weighting="dsb"), dict(method="mbj", weighting="dsb"),
             dict(method="mbj", method_options={"prototype_memory": 2, "replay": 5}, weighting="dsb")]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible (SEMSCALE_TEST_GPU=1 shows one)")
@pytest.mark.parametrize("case", GPU_CASES, ids=case_id)
def test_a_training_step_on_a_gpu_never_synchronises(case):
    """The same on a real GPU: stage-3 steps under CUDA's sync debug mode 'error' (after a step of each stage, which
    fill the pool and warm the allocator), so any wait for the device raises. Not yet run: no GPU so far."""
    rng = np.random.default_rng(0)
    images, labels = rng.random((64, 8, 8, 1), dtype=np.float32), np.arange(64) % 4
    trainer = Trainer(TrainConfig(warmup_epochs=1, width=4, batch_size=16, device="cuda", **case), images, labels,
                      4, progress=False)
    x, y = torch.randn(16, 1, 8, 8, device="cuda"), torch.arange(16, device="cuda") % 4
    host_labels = torch.arange(16) % 4
    for epoch in (1, 2, 3):
        if trainer.method is not None:
            trainer._start_method_epoch(epoch)
        trainer.train_step(x, y, epoch, global_labels=host_labels)
    torch.cuda.synchronize()
    mode = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(3):
            trainer.train_step(x, y, 3, step, global_labels=host_labels)
    finally:
        torch.cuda.set_sync_debug_mode(mode)
    torch.cuda.synchronize()


def test_the_meta_device_catches_a_host_read():
    """The control: the host pool (boolean masks, nonzero) on meta tensors fails, so the test above can."""
    pool = FeaturePool(4, 3, warmup_epochs=1, device="meta")
    with pytest.raises((RuntimeError, NotImplementedError)):
        pool.update(torch.randn(8, 3, device="meta"), torch.zeros(8, dtype=torch.int64, device="meta"), 1)


def test_tally_counts_hits_and_samples_per_class_by_hand():
    correct, seen = torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long)
    outputs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]])
    labels = torch.tensor([0, 1, 1, 2, 2])                     # predictions 0, 1, 0, 2, 0: hits 1, 1, 0, 1, 0
    tally(correct, seen, outputs, labels)
    tally(correct, seen, outputs[:1], labels[:1])
    assert correct.tolist() == [2, 1, 1] and seen.tolist() == [2, 2, 2]
