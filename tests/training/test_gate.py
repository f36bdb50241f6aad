import pytest
import torch
from conftest import ALEXNET

from invertnet.bench import training_batch
from invertnet.errors import InvertnetError
from invertnet.training import TrainConfig, Trainer
from invertnet.training.gate import PAPER, SCRIPT, Gate


def _state(gate: Gate) -> tuple[bool, bool]:
    return bool(gate.discriminator), bool(gate.generator)


def test_the_paper_gate_pauses_below_its_threshold_and_decides_its_own_step():
    gate = Gate(PAPER)
    assert not gate.decides_ahead
    assert bool(gate.decide(1.0, 1.0)[0])  # ratio 1
    assert not bool(gate.decide(0.05, 1.0)[0])  # 0.05 < 0.1: paused
    assert not bool(gate.decide(0.09, 1.0)[0])
    assert bool(gate.decide(0.2, 1.0)[0])  # back above 0.1
    assert all(bool(gate.decide(ratio, 1.0)[1]) for ratio in (0.01, 1.0, 100.0))  # never pauses G


def test_the_paper_gate_with_the_hysteresis_of_a_resume_threshold():
    gate = Gate(PAPER, stop_below=0.1, resume_above=0.5)
    assert not bool(gate.decide(0.05, 1.0)[0])
    assert not bool(gate.decide(0.3, 1.0)[0])  # above 0.1 but below 0.5: stays paused
    assert bool(gate.decide(0.6, 1.0)[0])
    assert bool(gate.decide(0.3, 1.0)[0])  # on, and 0.3 >= 0.1: stays on


def _script_reference(ratios: list[float]) -> list[tuple[bool, bool]]:
    """The authors' script's three if-statements, transcribed as they run, one step after another."""
    train_discr, train_gen, states = True, True, []
    for ratio in ratios:
        if ratio < 1e-1 and train_discr:
            train_discr, train_gen = False, True
        if ratio > 5e-1 and not train_discr:
            train_discr, train_gen = True, True
        if ratio > 1e1 and train_gen:
            train_gen, train_discr = False, True
        states.append((train_discr, train_gen))
    return states


SCRIPTED = [1.0, 0.05, 0.3, 0.6, 20.0, 5.0, 0.3, 0.09, 0.2, 0.7, 0.05, 50.0, 0.05, 12.0, 0.5, 0.0]


def test_the_script_gate_on_a_scripted_loss_sequence():
    gate = Gate(SCRIPT)
    assert gate.decides_ahead and _state(gate) == (True, True)
    states = [tuple(bool(v) for v in gate.decide(ratio, 1.0)) for ratio in SCRIPTED]
    expected = [
        (True, True),  # 1.0: nothing fires
        (False, True),  # 0.05 < 0.1: D paused
        (False, True),  # 0.3 <= 0.5: D stays paused
        (True, True),  # 0.6 > 0.5: D resumes
        (True, False),  # 20 > 10: G paused, D trained alone
        (True, False),  # 5: G stays paused (only a ratio below 0.1 resumes it)
        (True, False),  # 0.3: still paused
        (False, True),  # 0.09 < 0.1: G resumes and D pauses, in one rule
        (False, True),  # 0.2
        (True, True),  # 0.7 > 0.5: D resumes
        (False, True),  # 0.05
        (True, False),  # 50 from D paused: D resumes (rule 2), then G pauses (rule 3), in that order
        (False, True),  # 0.05
        (True, False),  # 12
        (True, False),  # 0.5 is not below 0.1
        (False, True),  # 0.0
    ]
    assert states == expected == _script_reference(SCRIPTED)


def test_the_script_gate_takes_the_ratio_of_the_losses_and_a_zero_l_adv_as_infinite():
    gate = Gate(SCRIPT)
    gate.decide(0.5, 10.0)  # ratio 0.05
    assert _state(gate) == (False, True)
    gate.decide(1.0, 0.0)  # ratio inf: D resumes, G pauses
    assert _state(gate) == (True, False)


def test_gate_thresholds_are_the_rule_s_unless_given_and_are_checked():
    assert (Gate(SCRIPT).stop_below, Gate(SCRIPT).resume_above, Gate(SCRIPT).pause_generator_above) == (0.1, 0.5, 10.0)
    assert (Gate(PAPER).stop_below, Gate(PAPER).resume_above, Gate(PAPER).pause_generator_above) == (0.1, 0.1, None)
    assert Gate(SCRIPT, pause_generator_above=4.0).pause_generator_above == 4.0
    with pytest.raises(InvertnetError, match=r"belongs to gate \(--gate\) script"):
        Gate(PAPER, pause_generator_above=10.0)
    with pytest.raises(InvertnetError, match="resume ratio"):
        Gate(PAPER, stop_below=0.5, resume_above=0.1)
    with pytest.raises(InvertnetError, match="unknown gate"):
        Gate("sometimes")
    with pytest.raises(InvertnetError, match="finite number"):
        Gate(SCRIPT, stop_below=float("nan"))


def _trainer(tmp_path, **overrides) -> Trainer:
    values = dict(layer="fc8", data="synthetic", out=str(tmp_path / "run"), steps=2, batch_size=2, encoder=ALEXNET, device="cpu", workers=0,
                  fc_width=64)
    values.update(overrides)
    return Trainer(TrainConfig(**values))


def _order_of_updates(trainer: Trainer) -> tuple[list[str], torch.Tensor]:
    """Which optimizer steps first in one training step, and a D weight as G's adversarial term saw it."""
    calls: list[str] = []
    for name, optimizer in (("D", trainer.d_optimizer), ("G", trainer.g_optimizer)):
        step = optimizer.step
        optimizer.step = lambda *args, _step=step, _name=name, **kwargs: (calls.append(_name), _step(*args, **kwargs))[1]
    weight = next(trainer.discriminator.parameters())
    seen = []  # D's weight in G's pass: the one where D's weights take no gradient
    hook = trainer.discriminator.register_forward_pre_hook(lambda module, args: None if weight.requires_grad else seen.append(weight.detach().clone()))
    trainer.train_step(training_batch(2, torch.device("cpu")))
    hook.remove()
    assert len(seen) == 1
    return calls, seen[0]


def test_script_gate_updates_d_first_and_g_sees_the_updated_d(tmp_path):
    trainer = _trainer(tmp_path, gate="script")
    before = next(trainer.discriminator.parameters()).detach().clone()
    calls, seen = _order_of_updates(trainer)
    after = next(trainer.discriminator.parameters()).detach()
    assert calls == ["D", "G"]
    assert not torch.equal(before, after) and torch.equal(seen, after)


def test_paper_gate_updates_g_first_through_the_d_of_before_the_step(tmp_path):
    trainer = _trainer(tmp_path, gate="paper")
    before = next(trainer.discriminator.parameters()).detach().clone()
    calls, seen = _order_of_updates(trainer)
    assert calls == ["G", "D"] and torch.equal(seen, before)


def test_a_paused_generator_keeps_its_weights_and_adam_state_while_d_trains(tmp_path):
    trainer = _trainer(tmp_path, gate="script")
    trainer.gate.set(discriminator=True, generator=False)  # as after a step with L_discr / L_adv > 10
    generator = [p.detach().clone() for p in trainer.generator.parameters()]
    discriminator = [p.detach().clone() for p in trainer.discriminator.parameters()]
    step = trainer.train_step(training_batch(2, torch.device("cpu"))).read()
    assert step.generator_updated is False and step.discriminator_updated is True
    assert all(torch.equal(p, q) for p, q in zip(trainer.generator.parameters(), generator))
    assert all(float(trainer.g_optimizer.state[p]["step"]) == 0 for p in trainer.generator.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(trainer.discriminator.parameters(), discriminator))
    assert int(trainer.g_schedule.updates) == 0 and int(trainer.d_schedule.updates) == 1


def test_the_gate_state_is_saved_and_resumed(tmp_path):
    trainer = _trainer(tmp_path, gate="script", steps=1)
    trainer.run()
    trainer.gate.set(discriminator=True, generator=False)
    trainer.save()
    resumed = Trainer.resume(tmp_path / "run", steps=2, device="cpu", workers=0)
    assert _state(resumed.gate) == (True, False) and resumed.gate.rule == SCRIPT


def test_a_run_saved_before_the_gate_was_a_setting_resumes_with_the_paper_gate():
    old = {"layer": "fc6", "gate_stop": 0.1, "gate_resume": 0.1}  # a config.json of an earlier version
    config = TrainConfig.from_dict(old)
    assert config.gate == PAPER and config.lr_milestones == ()
    assert TrainConfig().gate == SCRIPT
