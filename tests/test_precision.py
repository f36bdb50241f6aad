"""The bf16 fast path (autocast, channels_last, fused Adam) computes what fp32 computes."""

import pytest
import torch
from conftest import ALEXNET

from invertnet.bench import training_batch
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter
from invertnet.models import Generator
from invertnet.precision import Precision
from invertnet.training import TrainConfig, Trainer


def test_auto_is_fp32_on_the_cpu_and_names_are_checked():
    assert Precision.resolve("auto", torch.device("cpu")).name == "fp32"
    assert Precision.resolve("bf16", torch.device("cpu")).fast
    with pytest.raises(InvertnetError, match="unknown precision 'fp16'"):
        Precision.resolve("fp16", torch.device("cpu"))
    with pytest.raises(InvertnetError, match="unknown precision"):
        TrainConfig(precision="fp16").validate()


def _trainer(tmp_path, precision):
    # the paper's gate: every loss of the step comes before any update (with the script's, L_adv is measured after D's first
    # Adam step, which moves each weight by lr times the sign of its gradient: a sign that bf16 may flip for tiny gradients)
    config = TrainConfig(layer="fc8", data="synthetic", out=str(tmp_path / precision), steps=1, batch_size=1, alexnet=ALEXNET,
                         device="cpu", workers=0, precision=precision, gate="paper", fc_width=64)
    return Trainer(config)


def test_bf16_step_matches_fp32_within_bf16_tolerance(tmp_path):
    images = training_batch(1, torch.device("cpu"))
    plain, fast = _trainer(tmp_path, "fp32"), _trainer(tmp_path, "bf16")
    deconv = fast.generator.tail[0].weight
    assert deconv.dtype == torch.float32 and deconv.is_contiguous(memory_format=torch.channels_last)
    assert fast.g_optimizer.defaults["fused"] and plain.g_optimizer.defaults["fused"]
    features = fast.alexnet(images, "fc8")
    with fast.precision.autocast():
        assert fast.generator.head(features).dtype == torch.bfloat16  # autocast is really on
    reference, result = plain.train_step(images).read(), fast.train_step(images).read()
    assert result.discriminator_updated == reference.discriminator_updated
    for name, value in reference.values.items():
        assert result.values[name] == pytest.approx(value, rel=2e-2), name
    # the generator's gradients (still held after the step) agree in direction and size
    for (name, a), b in zip(plain.generator.named_parameters(), fast.generator.parameters()):
        cosine = torch.nn.functional.cosine_similarity(a.grad.flatten(), b.grad.flatten(), dim=0)
        assert cosine.item() > 0.98 and b.grad.norm().item() == pytest.approx(a.grad.norm().item(), rel=5e-2), name


def test_bf16_inverter_matches_fp32(alexnet):
    torch.manual_seed(0)
    generator = Generator("fc6").eval().requires_grad_(False)
    images = training_batch(2, torch.device("cpu"))
    plain = Inverter(alexnet, generator).invert(images)
    fast = Inverter(alexnet, generator, precision="bf16").invert(images)
    assert fast.dtype == torch.float32 and fast.shape == plain.shape
    assert (fast - plain).abs().mean() < 0.01
