import json

import pytest
import torch
from safetensors.torch import save_file

from invertnet.checkpoint import atomic_save, base_metadata, flatten_optimizer, load_checkpoint, unflatten_optimizer
from invertnet.errors import InvertnetError


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
    assert (checkpoint.layer, checkpoint.alexnet, checkpoint.step, checkpoint.config) == ("fc6", "random:0", 7, {"seed": 1})
    assert checkpoint.metadata["format"] == "pt"
    assert json.loads(checkpoint.metadata["invertnet.architecture"])["generator"] == "deepsim-fc6"
    assert torch.equal(checkpoint.module_state("generator")["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary file left


def test_compatibility_checks(tmp_path):
    path = tmp_path / "c.safetensors"
    atomic_save({"generator.w": torch.ones(1)}, base_metadata("fc6", "random:0", {}, 0, "generator"), path)
    checkpoint = load_checkpoint(path)
    checkpoint.check_compatible("fc6", "random:0")
    with pytest.raises(InvertnetError, match="inverts fc6, not fc7"):
        checkpoint.check_compatible("fc7", "random:0")
    with pytest.raises(InvertnetError, match="trained against AlexNet 'random:0', not 'imagenet'"):
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
