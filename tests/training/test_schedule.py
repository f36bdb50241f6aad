import pytest
import torch
from conftest import ALEXNET

from invertnet.errors import InvertnetError
from invertnet.names import PAPER_GAMMA, PAPER_MILESTONES
from invertnet.training import TrainConfig, Trainer
from invertnet.training.schedule import StepSchedule, check_milestones, parse_milestones


def _rate_of_update(number: int, milestones=PAPER_MILESTONES, lr: float = 2e-4) -> float:
    """The rate the device schedule sets for update ``number`` (from 1)."""
    schedule = StepSchedule(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr, fused=True), lr, milestones, 0.5)
    schedule.updates.fill_(number - 1)
    schedule.before_step()
    return float(schedule.lr)


def test_the_authors_schedule_halves_the_rate_after_each_milestone():
    assert PAPER_MILESTONES == (300_000, 500_000, 700_000, 900_000, 1_100_000) and PAPER_GAMMA == 0.5
    lr = float(torch.tensor(2e-4))  # the rate as the device holds it (float32); halving it is exact
    assert _rate_of_update(1) == lr
    assert _rate_of_update(300_000) == lr  # Caffe: iteration 299,999 (from 0) is below the step value
    assert _rate_of_update(300_001) == lr / 2
    assert _rate_of_update(700_001) == lr / 8
    assert _rate_of_update(1_300_000) == lr / 32
    assert _rate_of_update(10**7, milestones=()) == lr


def test_milestones_from_the_command_line():
    assert parse_milestones("300k,500k,700k,900k,1.1M") == PAPER_MILESTONES
    assert parse_milestones("3, 5") == (3, 5) and parse_milestones("none") == ()
    assert parse_milestones("2.3M,4.1m") == (2_300_000, 4_100_000)  # exact, not 2,299,999.99...
    assert parse_milestones("1e3,2e5") == (1000, 200_000)
    for bad in ("3,x", "1.5", "1e309", "1e309k", "1e10000000000", "nan", "inf", "1_000", "2e13"):  # no overflow, no minutes of big numbers
        with pytest.raises(InvertnetError, match="--lr-milestones"):
            parse_milestones(bad)
    for milestones, gamma in (((5, 3), 0.5), ((0,), 0.5), ((3,), 0.0), ((3,), 1.5)):
        with pytest.raises(InvertnetError):
            check_milestones(milestones, gamma)


def test_the_device_schedule_follows_the_updates_it_applied():
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam([parameter], lr=1.0, fused=True)
    schedule = StepSchedule(optimizer, 1.0, (2, 4), 0.5)
    rates = []
    for applied in (True, True, False, True, True, True, True):
        schedule.before_step()
        rates.append(float(optimizer.param_groups[0]["lr"]))
        schedule.after_step(torch.tensor(applied))
    # updates 1, 2 at 1.0; update 3 (tried twice, skipped once) and 4 at 0.5; 5 and 6 at 0.25
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert int(schedule.updates) == 6


def _config(out, **overrides) -> TrainConfig:
    values = dict(layer="fc8", data="synthetic", out=str(out), steps=4, batch_size=2, encoder=ALEXNET, device="cpu", workers=0,
                  lr_milestones=(1, 3), lr_gamma=0.5, checkpoint_every=2, fc_width=64)
    values.update(overrides)
    return TrainConfig(**values)


def test_training_applies_the_schedule_to_each_network_and_resumes_it(tmp_path):
    whole = Trainer(_config(tmp_path / "whole"))
    whole.run()
    assert int(whole.g_schedule.updates) == 4 and float(whole.g_optimizer.param_groups[0]["lr"]) == pytest.approx(2e-4 / 4)
    first = Trainer(_config(tmp_path / "split", steps=2))
    first.run()
    assert float(first.g_optimizer.param_groups[0]["lr"]) == pytest.approx(2e-4 / 2)  # update 2 ran at half the rate
    resumed = Trainer.resume(tmp_path / "split", steps=4, device="cpu", workers=0)
    assert resumed.config.lr_milestones == (1, 3) and int(resumed.g_schedule.updates) == 2
    assert resumed.g_optimizer.param_groups[0]["lr"] is resumed.g_schedule.lr  # the optimizer reads the schedule again
    resumed.run()
    for name, tensor in whole.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name
    for name, tensor in whole.discriminator.state_dict().items():
        assert torch.equal(tensor, resumed.discriminator.state_dict()[name]), name
