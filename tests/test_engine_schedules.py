"""engine/optim.py's learning-rate schedules against their closed forms, epoch by epoch (and through the CLI)."""
import math

import pytest
import torch

from semscale.engine import TrainConfig
from semscale.engine.cli_config import parse_list
from semscale.engine.optim import build_optimizer, build_schedule


def lrs(config: TrainConfig) -> list[float]:
    """The lr each epoch 1..epochs trains with (the schedule steps once an epoch, as Trainer.fit does)."""
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(1))])
    schedule = build_schedule(config, optimizer)
    out = []
    for _ in range(config.epochs):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return out


def test_step_divides_by_ten_after_each_milestone_epoch():
    # "lr decays 10 times every 50 epochs" in miniature: every 2 epochs of 6
    config = TrainConfig(lr=1.0, epochs=6, schedule="step", lr_gamma=0.1, lr_milestones=[2, 4])
    assert lrs(config) == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    multistep = torch.optim.lr_scheduler.MultiStepLR(reference, milestones=[2, 4], gamma=0.1)
    expected = []
    for _ in range(6):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        multistep.step()
    assert lrs(config) == pytest.approx(expected)  # torch's MultiStepLR, the release's multistep


def test_cosine_falls_to_zero_over_the_run():
    config = TrainConfig(lr=2.0, epochs=4, schedule="cosine")
    assert lrs(config) == pytest.approx([2.0, 1.0 + math.sqrt(0.5), 1.0, 1.0 - math.sqrt(0.5)])


def test_step_without_milestones_is_refused_and_the_default_key_is_unchanged():
    with pytest.raises(ValueError, match="lr_milestones"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="lr_milestones"):
        TrainConfig(schedule="step", lr_milestones=[100, 50])
    assert TrainConfig().key() == TrainConfig(lr_milestones=[]).key()
    assert TrainConfig(schedule="step", lr_milestones=[5]).key() != TrainConfig(schedule="step", lr_milestones=[6]).key()


def test_milestones_parse_from_the_command_line():
    assert parse_list("[50, 100, 150]") == [50, 100, 150] == parse_list("50,100,150")
