import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ALEXNET, write_images
from PIL import Image
from safetensors.torch import load_file, save_file

from invertnet.bench import training_batch
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter
from invertnet.training import TrainConfig, Trainer
from invertnet.training.runlock import run_lock
from invertnet.training.step import NonFiniteLoss
from invertnet.weights.checkpoint import load_checkpoint


CONV5 = {"layer": "conv5", "fc_width": 4096}
"""The shared ``trained_run``'s layer and width."""


def _config(out, **overrides) -> TrainConfig:
    """A tiny run: fc8 with a 64-wide generator (its checkpoint 0.11 GB; conv5's, 0.29 GB, is the shared ``trained_run``'s)."""
    values = dict(layer="fc8", fc_width=64, data="synthetic", out=str(out), steps=4, batch_size=2, encoder=ALEXNET, device="cpu", workers=0,
                  log_every=1)
    values.update(overrides)
    return TrainConfig(**values)


def test_the_initial_networks_depend_on_the_seed_not_on_how_the_encoder_was_loaded(tmp_path, encoder):
    path = tmp_path / "alexnet.safetensors"
    save_file({name: value.contiguous() for name, value in encoder.state_dict().items()}, path)  # random:0's weights, as a file
    by_spec = Trainer(_config(tmp_path / "spec", steps=1))
    torch.manual_seed(123)  # wherever the RNG was before
    by_file = Trainer(_config(tmp_path / "file", steps=1, encoder=str(path)))
    assert by_file.encoder.identity != by_spec.encoder.identity
    for ours, theirs in ((by_spec.generator, by_file.generator), (by_spec.discriminator, by_file.discriminator)):
        assert all(torch.equal(value, theirs.state_dict()[name]) for name, value in ours.state_dict().items())


def test_loss_falls(tmp_path):
    # a solid colour: every random crop and flip is the same target, so the loss must fall fast
    (tmp_path / "data").mkdir()
    Image.new("RGB", (256, 256), (230, 50, 25)).save(tmp_path / "data" / "red.png")
    records = []
    Trainer(_config(tmp_path / "run", data=str(tmp_path / "data"), loss="image", steps=10)).run(on_log=records.append)
    assert records[-1]["img"] < 0.7 * records[0]["img"]


def test_a_run_writes_every_file(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"checkpoint.safetensors", "generator.safetensors", "config.json", "metrics.jsonl", "samples"} <= names
    assert sorted(p.name for p in (trained_run / "samples").iterdir()) == ["step_0000000.png", "step_0000002.png"]
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 2 and {"loss", "feat", "adv", "img", "discr", "d_updated", "images_per_s"} <= set(records[-1])
    checkpoint = load_checkpoint(trained_run / "checkpoint.safetensors")
    assert (checkpoint.step, checkpoint.layer, checkpoint.encoder) == (2, "conv5", ALEXNET)
    assert checkpoint.config["loss_config"]["lambda_adv"] == 100.0
    assert {"optim.generator.0.exp_avg", "optim.discriminator.0.exp_avg"} <= set(checkpoint.tensors)


def test_resumed_run_equals_uninterrupted(tmp_path):
    straight = Trainer(_config(tmp_path / "straight", steps=4))
    straight.run()
    Trainer(_config(tmp_path / "split", steps=2)).run()
    resumed = Trainer.resume(tmp_path / "split", steps=4, device="cpu", workers=0)
    assert resumed.step == 2
    resumed.run()
    for name, tensor in straight.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name
    for name, tensor in straight.discriminator.state_dict().items():
        assert torch.equal(tensor, resumed.discriminator.state_dict()[name]), name
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_signal_saves_and_stops_after_the_current_step(tmp_path):
    trainer = Trainer(_config(tmp_path / "run", steps=10, checkpoint_every=100))
    result = trainer.run(on_log=lambda record: trainer.request_stop(signal.SIGTERM) if record["step"] == 3 else None)
    assert result.interrupted and result.step == 3 and trainer.stop_signal == signal.SIGTERM
    assert load_checkpoint(tmp_path / "run" / "checkpoint.safetensors").step == 3


def test_non_finite_loss_stops_before_anything_is_saved(tmp_path, monkeypatch):
    trainer = Trainer(_config(tmp_path / "run", steps=3, checkpoint_every=1))
    original = trainer.encoder.forward
    calls = {"n": 0}

    def poisoned(images, layers="fc8"):
        calls["n"] += 1
        out = original(images, layers)
        return out * float("nan") if calls["n"] > 6 else out  # NaN from the second step on

    monkeypatch.setattr(trainer.encoder, "forward", poisoned)
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 2"):
        trainer.run()
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert saved.step == 1
    for name, tensor in saved.module_state("generator").items():  # the NaN step was skipped on the device
        assert torch.equal(trainer.generator.state_dict()[name], tensor), name


def test_a_closed_gate_leaves_the_discriminator_and_its_adam_state_untouched(tmp_path):
    trainer = Trainer(_config(tmp_path / "run", layer="fc8", steps=1, gate="paper", gate_stop=1e9, gate_resume=1e9, fc_width=64))
    before = {name: tensor.clone() for name, tensor in trainer.discriminator.state_dict().items()}
    generator_before = [p.detach().clone() for p in trainer.generator.parameters()]
    step = trainer.train_step(training_batch(2, torch.device("cpu"))).read()
    assert step.discriminator_updated is False and "discr" in step.values
    for name, tensor in trainer.discriminator.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    states = [trainer.d_optimizer.state[p] for p in trainer.discriminator.parameters()]
    assert all(float(state["step"]) == 0 and not state["exp_avg"].any() for state in states)
    assert any(not torch.equal(p, q) for p, q in zip(trainer.generator.parameters(), generator_before))  # G still stepped


def test_existing_run_needs_resume(trained_run):
    with pytest.raises(InvertnetError, match="pass --resume"):
        Trainer(_config(trained_run))
    with pytest.raises(InvertnetError, match="nothing to resume"):
        Trainer.resume(trained_run.parent / "nowhere")


def test_presets_without_adversarial_term_build_no_discriminator(tmp_path):
    trainer = Trainer(_config(tmp_path / "run", loss="feat+image", steps=1))
    assert trainer.discriminator is None and trainer.comparator is not None
    record = []
    trainer.run(on_log=record.append)
    assert "adv" not in record[0] and "d_updated" not in record[0]


@pytest.mark.parametrize(
    "field, value",
    [("gate_stop", float("nan")), ("steps", 0), ("steps", 10**20), ("batch_size", -1), ("batch_size", 10**8), ("layer", "pool9"), ("seed", -1), ("seed", 2**64), ("gate_stop", -0.5), ("lr", float("inf")),
     ("beta1", 1.0)],
)
def test_bad_settings(tmp_path, field, value):
    with pytest.raises(InvertnetError):
        Trainer(_config(tmp_path / "run", **{field: value}))


@pytest.mark.parametrize(
    "settings, message",
    [({"cuda_graph": True}, r"cuda_graph \(--cuda-graph\) needs a CUDA device"), ({"cuda_graph": True, "compile": True}, "cannot be combined")],
)
def test_cuda_graph_is_refused_where_it_cannot_run(tmp_path, settings, message):
    with pytest.raises(InvertnetError, match=message):
        Trainer(_config(tmp_path / "run", **settings))


@pytest.mark.parametrize(
    "loss, names",
    [("image", ("loss", "img")), ("feat+image", ("loss", "feat", "img")), ("adv+image", ("loss", "adv", "img", "discr")),
     ("feat+adv", ("loss", "feat", "adv", "discr")), ("full", ("loss", "feat", "adv", "img", "discr"))],
)
def test_a_step_reports_the_terms_its_loss_has(tmp_path, loss, names):
    trainer = Trainer(_config(tmp_path / "run", loss=loss, steps=1))
    result = trainer.train_step(training_batch(2, torch.device("cpu")))
    assert result.names == names and len(result.stats) == len(names) + 1  # and the stop flag


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_trains(tmp_path):
    trainer = Trainer(_config(tmp_path / "run", steps=1))
    with run_lock(tmp_path / "run"):  # another process's run holds the folder
        with pytest.raises(InvertnetError, match="another invertnet train is running"):
            trainer.run()
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    trainer.run()  # free again: the lock died with its holder
    assert (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_a_torn_metrics_line_does_not_stop_a_resume(tmp_path):
    Trainer(_config(tmp_path / "run", steps=2, checkpoint_every=2)).run()
    with open(tmp_path / "run" / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 5')  # a crash or a full disk in the middle of an append
    (tmp_path / "run" / ".checkpoint.safetensors.x1y2.tmp").write_bytes(b"half a checkpoint")  # writes cut short by a kill:
    (tmp_path / "run" / ".tmpAb12Cd").write_bytes(b"half a checkpoint")  # ours, and safetensors' own temporary
    resumed = Trainer.resume(tmp_path / "run", steps=3, device="cpu", workers=0)
    resumed.run()
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert not list((tmp_path / "run").glob(".*.tmp")) and not list((tmp_path / "run").glob(".tmp*"))


def test_an_earlier_run_s_generator_is_never_overwritten(tmp_path):
    Trainer(_config(tmp_path / "run", steps=1)).run()
    (tmp_path / "run" / "checkpoint.safetensors").unlink()
    with pytest.raises(InvertnetError, match="holds the generator of an earlier run"):
        Trainer(_config(tmp_path / "run", steps=1))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvertnetError, match="is a file"):
        Trainer(_config(tmp_path / "file", steps=1))


def test_sigkill_at_any_moment_then_resume_equals_an_uninterrupted_run(tmp_path):
    """The chaos test: kill -9 mid-run (mid-write, between renames, mid-step), resume, compare bit for bit."""
    command = [sys.executable, "-m", "invertnet", "train", "--layer", "fc8", "--fc-width", "64", "--data", "synthetic", "--loss", "full",
               "--steps", "4", "--batch-size", "2", "--encoder", ALEXNET, "--device", "cpu", "--checkpoint-every", "1", "--log-every", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole_run = subprocess.Popen([*command, "--out", str(tmp_path / "whole")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "killed"  # trains beside the uninterrupted run (one thread each)
    process = subprocess.Popen([*command, "--out", str(run)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run / "metrics.jsonl").exists() or len((run / "metrics.jsonl").read_text().splitlines()) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    process.kill()  # SIGKILL: no handler runs, whatever was being written stays as it was
    process.wait()
    resumed = subprocess.run([sys.executable, "-m", "invertnet", "train", "--out", str(run), "--resume"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert whole_run.wait(timeout=300) == 0
    assert not list(run.rglob(".*.tmp")) and not list(run.rglob(".tmp*"))  # writes the kill cut short are cleared away
    whole, killed = load_file(tmp_path / "whole" / "checkpoint.safetensors"), load_file(run / "checkpoint.safetensors")
    assert whole.keys() == killed.keys() and all(torch.equal(whole[k], killed[k]) for k in whole)
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == list(range(1, 5))


def _damaged_copy(run, tmp_path, tensors=None, **metadata):
    """A copy of ``run`` whose checkpoint has other tensors or metadata."""
    checkpoint = load_checkpoint(run / "checkpoint.safetensors")
    copy = tmp_path / "damaged"
    copy.mkdir()
    changed = {**checkpoint.metadata, **metadata}
    changed = {key: value for key, value in changed.items() if value is not None}
    save_file(tensors if tensors is not None else checkpoint.tensors, copy / "checkpoint.safetensors", metadata=changed)
    return copy


@pytest.mark.parametrize(
    "damage, message",
    [
        ({"invertnet.config": "{not json"}, "not JSON"),
        ({"invertnet.config": "[1, 2]"}, "not a JSON object"),
        ({"invertnet.state": None}, "KeyError: 'gate_active'"),
        ({"invertnet.step": "abc"}, "not a non-negative integer"),
        ({"invertnet.step": "0"}, "a training checkpoint is written after a step"),
        ({"invertnet.layer": "fc9"}, "names the layer 'fc9'"),
        ({"invertnet.layer": "fc6"}, "its config says conv5"),
        ({"invertnet.optim.generator": "{oops"}, "JSONDecodeError"),
        ("drop optim.generator.0", "Adam state is incomplete"),
        ("drop generator.head.0.weight", "Missing key"),
        ("nan generator", "NaN or infinite weights"),
    ],
)
def test_a_damaged_checkpoint_is_refused_with_the_reason(trained_run, tmp_path, damage, message):
    tensors = None
    if isinstance(damage, str):
        tensors = dict(load_checkpoint(trained_run / "checkpoint.safetensors").tensors)
        action, what = damage.split(" ", 1)
        if action == "drop":
            tensors = {k: v for k, v in tensors.items() if not k.startswith(what + ".") and k != what}
        else:
            tensors = {k: v * float("nan") if k.startswith(what + ".") else v for k, v in tensors.items()}
        damage = {}
    copy = _damaged_copy(trained_run, tmp_path, tensors, **damage)
    with pytest.raises(InvertnetError, match=message):
        Trainer.resume(copy, steps=5, device="cpu", workers=0)


def test_a_moved_data_folder_is_given_anew_on_resume(tmp_path):
    write_images(tmp_path / "data", 3)
    Trainer(_config(tmp_path / "run", data=str(tmp_path / "data"), loss="image", steps=1)).run()
    (tmp_path / "data").rename(tmp_path / "moved")
    with pytest.raises(InvertnetError, match="is gone: if it moved, pass its new place with --data"):
        Trainer.resume(tmp_path / "run", steps=2, device="cpu", workers=0)
    moved = Trainer.resume(tmp_path / "run", steps=2, device="cpu", workers=0, data=str(tmp_path / "moved"))
    assert moved.warnings == [] and moved.config.data == str(tmp_path / "moved")
    moved.run()
    write_images(tmp_path / "moved" / "more", 1)  # the folder's contents change
    changed = Trainer.resume(tmp_path / "run", steps=3, device="cpu", workers=0, data=str(tmp_path / "moved"))
    assert len(changed.warnings) == 1 and "are not those the run was trained on" in changed.warnings[0]


@pytest.mark.parametrize("width, message", [
    (64, "the conv5 generator has no fully connected layers"),
    ("64", "(must be an integer|fc_width is .64., not a value of type int)"),
])
def test_a_checkpoint_with_an_impossible_width_is_refused(trained_run, tmp_path, width, message):
    config = json.loads(load_checkpoint(trained_run / "checkpoint.safetensors").metadata["invertnet.config"])
    copy = _damaged_copy(trained_run, tmp_path, **{"invertnet.config": json.dumps({**config, "fc_width": width})})
    with pytest.raises(InvertnetError, match=f"is damaged: .*{message}"):
        Inverter.load(None, copy / "checkpoint.safetensors", encoder=ALEXNET, device="cpu")
    with pytest.raises(InvertnetError, match=message):
        Trainer.resume(copy, steps=5, device="cpu", workers=0)


@pytest.mark.parametrize("field, value", [("lr", "x"), ("steps", "3"), ("lr_milestones", ["a"]), ("compile", 1), ("batch_size", True),
                                          ("lambda_feat", [1])])
def test_a_config_value_of_the_wrong_type_is_named(trained_run, tmp_path, field, value):
    config = json.loads(load_checkpoint(trained_run / "checkpoint.safetensors").metadata["invertnet.config"])
    copy = _damaged_copy(trained_run, tmp_path, **{"invertnet.config": json.dumps({**config, field: value})})
    with pytest.raises(InvertnetError, match=f"checkpoint.safetensors is damaged: its config's {field} is"):
        Trainer.resume(copy, steps=5, device="cpu", workers=0)


def test_init_starts_the_generator_from_another_and_everything_else_fresh(trained_run, tmp_path):
    trainer = Trainer(_config(tmp_path / "tuned", steps=2, init=str(trained_run), **CONV5))
    before = load_checkpoint(trained_run / "checkpoint.safetensors")
    for name, value in trainer.generator.state_dict().items():
        assert torch.equal(value, before.module_state("generator")[name]), name
    assert not torch.equal(trainer.discriminator.state_dict()["classifier.4.weight"], before.module_state("discriminator")["classifier.4.weight"])
    assert not trainer.g_optimizer.state and trainer.step == 0  # Adam starts fresh, and so does the count of steps
    trainer.run()
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["init"] == str(trained_run) and config["init_from"]["file"] == str(trained_run / "generator.safetensors")
    assert len(config["init_from"]["sha256"]) == 16 and config["init_from"]["step"] == 2
    resumed = Trainer.resume(tmp_path / "tuned", steps=3)  # the checkpoint's weights, not the --init file's again
    assert resumed.step == 2 and resumed.init_from == config["init_from"]
    resumed.run()
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init_from"] == config["init_from"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"layer": "fc6", "fc_width": 64}, "inverts conv5; this run inverts fc6: pass --layer conv5"),
        ({"encoder": "random:1", **CONV5}, "was trained against the encoder 'random:0', not 'random:1': pass --encoder random:0"),
        ({"model": "autoencoder", "layer": "code", "fc_width": 4096}, "is a generator that inverts a layer; this run trains an autoencoder"),
    ],
)
def test_init_refuses_a_generator_of_another_kind_layer_or_encoder(trained_run, tmp_path, overrides, message):
    with pytest.raises(InvertnetError, match=message):
        Trainer(_config(tmp_path / "x", init=str(trained_run), **overrides))
    assert not (tmp_path / "x").exists()
