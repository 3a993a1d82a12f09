"""Exact resume of every semscale.methods Method: stopped after an epoch (or inside cRT / LWS's stage 2) and resumed
from its checkpoint, a run ends with the history and network of a run never stopped."""
import numpy as np
import pytest
import torch

from semscale.methods.registry import METHODS
from test_engine_methods import DECOUPLED, WITH_IFL, one_thread, trainer_for  # noqa: F401 (autouse fixture)


class Stop(Exception):
    pass


# Every method stopped after epoch 1 of 3 (its own state, e.g. MBJ's memory, PaCo's queue, RIDE's router stage,
# must come back from the checkpoint); cRT and LWS stopped inside stage 2 (epochs 3-4 of 4), so the checkpoint holds
# the stage-2 optimizer (the method's parameters only) and the resumed run must rebuild it before loading.
# cRT+IFL and LWS+IFL (stage 1 by IFL, its milestone at epoch 2 of 2 stage-1 epochs) stopped in stage 1 before the
# milestone and in stage 2 after it: IFL's second environment and stage must come back either way.
RESUME_CASES = [(m, None, 3, 1) for m in sorted(METHODS) if m not in DECOUPLED] + \
    [(m, {"stage2_epochs": 2}, 4, 3) for m in DECOUPLED] + \
    [(m, WITH_IFL, 4, stop) for m in DECOUPLED for stop in (1, 3)] + \
    [("mbj", {"base": "ride", "base_options": {"reweight_epoch": 1, "router_epochs": 1}}, 3, 2)]   # MBJ+RIDE


@pytest.mark.parametrize("method, options, epochs, stop_at", RESUME_CASES)
def test_stopped_and_resumed_run_equals_uninterrupted(method, options, epochs, stop_at, tmp_path):
    changes = dict(epochs=epochs, schedule="exp", optimizer="sgd", lr=0.05, options=options)
    straight, _, _ = trainer_for(method, "dsb", checkpoint=tmp_path / "straight.pt", **changes)
    straight.fit()
    stopped, _, _ = trainer_for(method, "dsb", checkpoint=tmp_path / "resumed.pt", **changes)

    def stop(trainer, record):
        if record["epoch"] == stop_at:
            raise Stop

    with pytest.raises(Stop):
        stopped.fit(on_epoch=stop)
    resumed, _, _ = trainer_for(method, "dsb", checkpoint=tmp_path / "resumed.pt", **changes)
    in_stage2 = method in DECOUPLED and stop_at > epochs - options["stage2_epochs"]
    assert resumed.epoch == stop_at and resumed.backbone_frozen == in_stage2
    resumed.fit()
    drop = ("seconds", "iterations_per_second", "images_per_second", "weighting_share")
    strip = [{k: v for k, v in r.items() if k not in drop} for r in straight.history]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in resumed.history]
    assert_same_state(straight.network.state_dict(), resumed.network.state_dict())


def assert_same_state(expected, actual, where="state"):
    """Equal tensors, numbers and containers, recursively (a method's extra state may be a dict of tensors)."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(expected, actual), where
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray) and np.array_equal(expected, actual), where
    elif isinstance(expected, dict):
        assert expected.keys() == actual.keys(), where
        for key in expected:
            assert_same_state(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(actual), where
        for i, (a, b) in enumerate(zip(expected, actual)):
            assert_same_state(a, b, f"{where}[{i}]")
    else:
        assert expected == actual or (expected != expected and actual != actual), where  # nan == nan here
