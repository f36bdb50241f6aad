import json

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from invertnet.errors import InvertnetError
from invertnet.weights import checkpoint as checkpoint_module
from invertnet.weights.checkpoint import atomic_save, base_metadata, flatten_optimizer, load_checkpoint, unflatten_optimizer


def test_optimizer_state_roundtrip():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(4, 3)).sum().backward()
    optimizer.step()
    tensors, encoded = flatten_optimizer("optim.g", optimizer)
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.5)
    fresh.load_state_dict(unflatten_optimizer("optim.g", tensors, encoded))
    assert fresh.param_groups[0]["lr"] == 1e-3
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(fresh.state_dict()["state"][0][key], optimizer.state_dict()["state"][0][key])


def test_atomic_save_and_metadata(tmp_path):
    path = tmp_path / "c.safetensors"
    atomic_save({"generator.w": torch.ones(2)}, base_metadata("fc6", "random:0", {"seed": 1}, 7, "generator"), path)
    checkpoint = load_checkpoint(path)
    assert (checkpoint.layer, checkpoint.encoder, checkpoint.step, checkpoint.config) == ("fc6", "random:0", 7, {"seed": 1})
    assert checkpoint.metadata["format"] == "pt"
    assert json.loads(checkpoint.metadata["invertnet.architecture"])["generator"] == "deepsim-fc6"
    assert torch.equal(checkpoint.module_state("generator")["w"], torch.ones(2))
    light = load_checkpoint(path, tensors=False)  # metadata checked the same way, no weights read
    assert light.metadata == checkpoint.metadata and light.tensors == {} and light.step == 7
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary file left


def test_compatibility_checks(tmp_path):
    path = tmp_path / "c.safetensors"
    atomic_save({"generator.w": torch.ones(1)}, base_metadata("fc6", "random:0", {}, 0, "generator"), path)
    checkpoint = load_checkpoint(path)
    checkpoint.check_compatible("fc6", "random:0")
    with pytest.raises(InvertnetError, match="inverts fc6, not fc7"):
        checkpoint.check_compatible("fc7", "random:0")
    with pytest.raises(InvertnetError, match="trained against the encoder 'random:0', not 'imagenet'"):
        checkpoint.check_compatible("fc6", "imagenet")


def test_foreign_and_broken_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(1)}, foreign)
    with pytest.raises(InvertnetError, match="not an invertnet checkpoint"):
        load_checkpoint(foreign)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 20)
    with pytest.raises(InvertnetError, match="not a readable safetensors"):
        load_checkpoint(broken)
    with pytest.raises(InvertnetError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    for key, value, message in (("invertnet.step", "\u00b2", "step '\u00b2' is not a non-negative integer"),
                                ("invertnet.config", "[" * 100_000 + "]" * 100_000, "not JSON \\(or is nested too deep\\)")):
        odd = tmp_path / "odd.safetensors"
        atomic_save({"generator.w": torch.ones(1)}, {**base_metadata("fc6", "random:0", {}, 0, "generator"), key: value}, odd)
        with pytest.raises(InvertnetError, match=f"is damaged: its .*{message}"):
            load_checkpoint(odd)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = atomic_save({"w": torch.ones(2)}, {}, tmp_path / "c.safetensors")
    before = path.read_bytes()

    def disk_full(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(checkpoint_module, "save_file", disk_full)
    with pytest.raises(InvertnetError, match="No space left on device.*untouched"):
        atomic_save({"w": torch.zeros(2)}, {}, path)
    assert path.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))
