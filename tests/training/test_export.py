"""``invertnet weights export``: a run's newest generator as a file of its own, checked, without the training state (issue 34, item 8)."""

import os

import pytest
import torch
from safetensors import safe_open
from conftest import run

from invertnet import Inverter
from invertnet.errors import InvertnetError
from invertnet.training.export import export_generator
from invertnet.weights.checkpoint import CHECKPOINT_NAME, GENERATOR_NAME, atomic_save, load_checkpoint


def test_the_export_is_the_generator_alone_and_inverts_as_the_run_does(trained_run, tmp_path, capsys):
    code, out, err = run(capsys, "weights", "export", trained_run, "--out", tmp_path / "g.safetensors")
    assert code == 0 and out.strip() == str(tmp_path / "g.safetensors"), err
    assert "step 2 of" in err and "delete the run folder" in err
    exported, original = load_checkpoint(tmp_path / "g.safetensors"), load_checkpoint(trained_run / CHECKPOINT_NAME)
    assert exported.tensors.keys() == {name for name in original.tensors if name.startswith("generator.")}
    assert all(torch.equal(exported.tensors[name], original.tensors[name]) for name in exported.tensors)
    assert exported.metadata["invertnet.kind"] == "generator" and exported.step == original.step == 2
    assert not [key for key in exported.metadata if key == "invertnet.state" or key.startswith("invertnet.optim.")]
    assert {k: v for k, v in exported.metadata.items() if k != "invertnet.kind"} == {
        k: v for k, v in original.metadata.items() if k not in ("invertnet.kind", "invertnet.state") and not k.startswith("invertnet.optim.")
    }
    assert (tmp_path / "g.safetensors").stat().st_size < (trained_run / CHECKPOINT_NAME).stat().st_size / 2
    ours, theirs = Inverter.load_generator(tmp_path / "g.safetensors"), Inverter.load_generator(trained_run)
    features = torch.randn(2, *ours.generator.feature_shape, generator=torch.Generator().manual_seed(0)).relu()
    assert torch.equal(ours.generate(features), theirs.generate(features))


def test_a_checkpoint_newer_than_the_generator_file_is_what_is_exported(trained_run, tmp_path):
    """A run killed between its two writes: the checkpoint (written first) is the newer, so it is the one exported."""
    run_folder = tmp_path / "killed"
    run_folder.mkdir()
    os.link(trained_run / CHECKPOINT_NAME, run_folder / CHECKPOINT_NAME)  # the same file, no copy of its 100s of MB
    older = load_checkpoint(trained_run / GENERATOR_NAME)
    stale = {name: torch.zeros_like(value) for name, value in older.tensors.items()}
    atomic_save(stale, {**older.metadata, "invertnet.step": "1"}, run_folder / GENERATOR_NAME)
    done = export_generator(run_folder, tmp_path / "g.safetensors")
    assert done.source == run_folder / CHECKPOINT_NAME and done.step == 2
    with safe_open(str(tmp_path / "g.safetensors"), "pt") as handle:
        name = next(iter(handle.keys()))
        assert not torch.equal(handle.get_tensor(name), stale[name])


def test_a_diverged_or_missing_generator_is_refused_and_nothing_is_written(trained_run, tmp_path, capsys):
    original = load_checkpoint(trained_run / GENERATOR_NAME)
    broken = dict(original.tensors)
    name = next(iter(broken))
    broken[name] = torch.full_like(broken[name], float("nan"))
    atomic_save(broken, original.metadata, tmp_path / "nan.safetensors")
    with pytest.raises(InvertnetError, match="NaN or infinite weights .* nothing exported"):
        export_generator(tmp_path / "nan.safetensors", tmp_path / "g.safetensors")
    assert not (tmp_path / "g.safetensors").exists()
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "weights", "export", tmp_path / "empty", "--out", tmp_path / "g.safetensors")
    assert code == 1 and f"{tmp_path / 'empty'} holds no {GENERATOR_NAME} or {CHECKPOINT_NAME}" in err
    code, _, err = run(capsys, "weights", "export", trained_run, "--out", tmp_path / "g.pt")
    assert code == 1 and "--out" in err and "must end in .safetensors" in err
    code, _, err = run(capsys, "weights", "export", trained_run / GENERATOR_NAME, "--out", trained_run / GENERATOR_NAME)
    assert code == 1 and "is the file exported from" in err
