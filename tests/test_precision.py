"""The bf16 fast path (autocast, channels_last, fused Adam) computes what fp32 computes, to what bf16 can promise.

What bf16 can promise depends on the computation, so the bounds come from its arithmetic and
from the computation's own conditioning, measured, never from one CPU's results:

- **The gradient.** bf16 keeps 8 significant bits: each number it rounds is off by a
  relative error of at most u = 2^-8. How far such errors move a gradient is a property of
  the step (its conditioning), measured in fp32, where rounding is 65,536 times finer: the
  *yardstick* is the same step in fp32 with the operands and the result of every
  convolution and linear layer rounded to bf16 (:func:`bf16_rounding`), what autocast
  rounds in a forward pass. At a random initialisation the step is ill-conditioned: that
  rounding moves the generator's gradient by ~8% (some of its tensors' by ~20%: a fixed
  per-tensor bound of 0.98 cosine failed on CPUs whose bf16 kernels round differently).
  The bf16 step must land within a factor ``K`` = 2 of the yardstick's distance: sqrt(2)
  because it also rounds the gradients, as many numbers again as the forward pass,
  adding in quadrature; sqrt(2) more because the two are separate draws of the rounding
  errors (CPUs round values near a boundary differently, and the step amplifies that like
  any rounding). Closer than the yardstick over ``K``: the step did not round (autocast off).
- **The update.** The weights are fp32 master copies, so each network's update must be
  Adam's first step on the gradient the step computed, to fp32 rounding (:func:`fp32_update_error`).
- **The losses**, scalars, are held to the forward error of the chain of products they
  come from (:func:`loss_tolerance`), and the gate must decide as in fp32.

Measured on one machine under oneDNN's AVX2, AVX512_CORE, AVX512_CORE_BF16 and native
(``ONEDNN_MAX_CPU_ISA``) kernels: the generator's gradient at 0.88 to 1.07 times the
yardstick's distance, updates within 6e-6 of Adam's step (allowed 1.5e-5), losses within
4e-3 (allowed 8.8e-2). The discriminator's gradient is not compared with the yardstick: at
initialisation it is the difference of two nearly equal terms (real and reconstructed
images, scored alike), and roundings autocast makes outside convolutions and linear layers
(pooling, concatenation), which the yardstick does not make, weigh in it (1.5 to 1.8 times
the yardstick on every ISA). Its loss, the gate and its update are checked.

The last tests break the bf16 path on purpose and check that this comparison fails.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass

import pytest
import torch
from conftest import ALEXNET

from invertnet.bench import training_batch
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter
from invertnet.models import Generator
from invertnet.precision import Precision
from invertnet.training import TrainConfig, Trainer

U = 2.0**-8
"""bf16's unit roundoff: 8 significant bits, round to nearest."""


def test_auto_is_fp32_on_the_cpu_and_names_are_checked():
    assert Precision.resolve("auto", torch.device("cpu")).name == "fp32"
    assert Precision.resolve("bf16", torch.device("cpu")).fast
    with pytest.raises(InvertnetError, match="unknown precision 'fp16'"):
        Precision.resolve("fp16", torch.device("cpu"))
    with pytest.raises(InvertnetError, match="unknown precision"):
        TrainConfig(precision="fp16").validate()


def distance(value: torch.Tensor, reference: torch.Tensor) -> float:
    """Normwise relative distance ||value - reference|| / ||reference||, in float64."""
    value, reference = value.double(), reference.double()
    return ((value - reference).norm() / reference.norm()).item()


PRODUCTS = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)
"""The layers autocast runs in bf16."""


def _to_bf16(x: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to the nearest bf16 value, kept in fp32; the gradient passes through unchanged."""
    return x + (x.bfloat16().float() - x).detach()


def bf16_rounding(*modules: torch.nn.Module) -> None:
    """Make every convolution and linear layer of ``modules`` compute in fp32 what autocast computes in bf16 (in place).

    Their weights are rounded to bf16 once; each call rounds its input and its result.
    For throwaway copies: the hooks stay.
    """
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, PRODUCTS):
                with torch.no_grad():
                    for weight in layer.parameters():
                        weight.copy_(weight.bfloat16().float())
                layer.register_forward_pre_hook(lambda _, inputs: tuple(_to_bf16(x) for x in inputs))
                layer.register_forward_hook(lambda _, inputs, output: _to_bf16(output))


def products_in_chain(*modules: torch.nn.Module) -> int:
    """How many layers that multiply (convolutions, linear layers) a value passes through in ``modules``, one after another."""
    return sum(isinstance(layer, PRODUCTS) for module in modules for layer in module.modules())


def loss_tolerance(depth: int) -> float:
    """Relative error a loss may carry after ``depth`` bf16 products: 3 standard deviations of the rounding's forward error.

    Each product rounds its two operands (the weights and its input) to the nearest bf16: a
    relative error uniform in [-u, u], standard deviation u / sqrt(3). Through a chain of
    ``depth`` norm-preserving layers (He-initialised, leaky ReLU) those 2 * depth errors add
    in quadrature: u * sqrt(2 * depth / 3). A squared distance or a cross-entropy of
    near-zero logits has a relative condition number of at most 2 in its inputs.
    """
    return 3 * 2 * U * math.sqrt(2 * depth / 3)


K = 2.0
"""How far the bf16 path's distance from fp32 may stray from the yardstick's, either way (see the module's docstring)."""


@dataclass
class Step:
    """What one training step produced: its losses, the gate's decision, and each trained network's weights and gradient."""

    losses: dict[str, float]
    discriminator_updated: bool | None
    before: dict[str, torch.Tensor]  # each network's weights, flattened, before the step
    after: dict[str, torch.Tensor]
    gradient: dict[str, torch.Tensor]


def _trainer(tmp_path, precision: str) -> Trainer:
    # the paper's gate: every loss of the step comes before any update (with the script's, L_adv is measured after D's first
    # Adam step, which moves each weight by lr times the sign of its gradient: a sign that bf16 may flip for tiny gradients)
    config = TrainConfig(layer="fc8", data="synthetic", out=str(tmp_path), steps=1, batch_size=1, encoder=ALEXNET,
                         device="cpu", workers=0, precision=precision, gate="paper", fc_width=64)
    return Trainer(config)


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().flatten().double() for t in tensors])


def _step(trainer: Trainer, images: torch.Tensor) -> Step:
    networks = {"generator": trainer.generator, "discriminator": trainer.discriminator}
    before = {name: _flat(net.parameters()) for name, net in networks.items()}
    result = trainer.train_step(images).read()
    after = {name: _flat(net.parameters()) for name, net in networks.items()}
    gradient = {name: _flat(p.grad for p in net.parameters()) for name, net in networks.items()}
    return Step(result.values, result.discriminator_updated, before, after, gradient)


def adam_first_step(weights: torch.Tensor, gradient: torch.Tensor, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """The weights after Adam's first step on ``gradient``, in float64: w - lr * g / (|g| + eps), g with L2 weight decay added.

    (Bias-corrected, the first moment is g and the second g^2.)
    """
    group = optimizer.param_groups[0]
    g = gradient + group["weight_decay"] * weights
    return weights - group["lr"] * g / (g.abs() + group["eps"])


def fp32_update_error(step: Step, name: str, optimizer: torch.optim.Optimizer) -> tuple[float, float]:
    """How far a network's update is from Adam's first step on its own gradient, and how far fp32 arithmetic may put it.

    Both normwise, relative to the update. The weights are fp32 (the master copy), so each
    new weight is rounded once to fp32 (relative error 2^-24 of the weight) after Adam's
    fp32 arithmetic (a few roundings of 2^-24 of the update each: 8 allowed).
    """
    expected = adam_first_step(step.before[name], step.gradient[name], optimizer)
    update = (expected - step.before[name]).norm()
    error = (step.after[name] - expected).norm() / update
    return error.item(), (2.0**-24 * (8 + step.after[name].norm() / update)).item()


def bf16_step_disagreements(tmp_path, images: torch.Tensor) -> list[str]:
    """How the bf16 step departs from fp32 by more (or less) than bf16 rounding explains; empty when it agrees.

    Three steps from the same initial weights on the same batch: fp32, bf16, and the
    yardstick (fp32 rounding what autocast rounds in the forward pass).
    """
    plain, fast, yardstick = _trainer(tmp_path / "fp32", "fp32"), _trainer(tmp_path / "bf16", "bf16"), _trainer(tmp_path / "yard", "fp32")
    bf16_rounding(yardstick.generator, yardstick.discriminator, yardstick.encoder)  # the comparator is the AlexNet
    reference, result, spread = _step(plain, images), _step(fast, images), _step(yardstick, images)
    problems = []
    if result.discriminator_updated != reference.discriminator_updated:
        problems.append(f"the gate differs: D updated in bf16 {result.discriminator_updated}, in fp32 {reference.discriminator_updated}")
    depth = products_in_chain(plain.generator) + max(products_in_chain(plain.discriminator), products_in_chain(plain.encoder))
    for name, value in reference.losses.items():
        error = abs(result.losses[name] - value) / abs(value)
        if error > loss_tolerance(depth):
            problems.append(f"loss {name}: relative error {error:.2e} > {loss_tolerance(depth):.2e}")
    gradient = reference.gradient["generator"]
    ours, rounding = distance(result.gradient["generator"], gradient), distance(spread.gradient["generator"], gradient)
    if not rounding / K <= ours <= K * rounding:
        problems.append(f"generator gradient: {ours:.3g} from fp32, outside [{rounding / K:.3g}, {K * rounding:.3g}] (rounding {rounding:.3g})")
    optimizers = {"generator": fast.g_optimizer, "discriminator": fast.d_optimizer}
    for name in optimizers if result.discriminator_updated else ["generator"]:
        error, allowed = fp32_update_error(result, name, optimizers[name])
        if error > allowed:
            problems.append(f"{name} update: {error:.3g} from Adam's step on its own gradient, more than fp32 allows ({allowed:.3g})")
    return problems


def test_bf16_step_matches_fp32_within_bf16_rounding(tmp_path):
    fast = _trainer(tmp_path / "probe", "bf16")
    deconv = fast.generator.tail[0].weight
    assert deconv.dtype == torch.float32 and deconv.is_contiguous(memory_format=torch.channels_last)
    assert fast.g_optimizer.defaults["fused"]
    images = training_batch(1, torch.device("cpu"))
    with fast.precision.autocast():
        assert fast.generator.head(fast.encoder(images, "fc8")).dtype == torch.bfloat16  # autocast is really on
    assert bf16_step_disagreements(tmp_path, images) == []


def test_the_update_check_holds_for_fp32(tmp_path):
    plain = _trainer(tmp_path, "fp32")
    step = _step(plain, training_batch(1, torch.device("cpu")))
    for name, optimizer in (("generator", plain.g_optimizer), ("discriminator", plain.d_optimizer)):
        error, allowed = fp32_update_error(step, name, optimizer)
        assert error <= allowed, name


def test_bf16_inverter_matches_fp32_within_bf16_rounding(encoder):
    torch.manual_seed(0)
    generator = Generator("fc6").eval().requires_grad_(False)
    images = training_batch(2, torch.device("cpu"))

    def reconstructions(precision: str, rounding: bool = False) -> torch.Tensor:
        network, decoder = copy.deepcopy(encoder), copy.deepcopy(generator)  # bf16 lays the session's AlexNet out channels_last
        if rounding:
            bf16_rounding(network, decoder)
        inverter = Inverter(network, decoder, precision=precision)
        return inverter.generate(inverter.features(images), clamp=False)

    plain, fast, yardstick = reconstructions("fp32"), reconstructions("bf16"), reconstructions("fp32", rounding=True)
    assert fast.dtype == torch.float32 and fast.shape == plain.shape
    rounding = distance(yardstick, plain)
    assert rounding / K <= distance(fast, plain) <= K * rounding  # a forward pass: only the draw-to-draw allowance is needed


@contextlib.contextmanager
def _broken(monkeypatch, how: str):
    """The bf16 path broken in one of the ways a change could break it."""
    with monkeypatch.context() as patch:
        if how == "autocast off":
            patch.setattr(Precision, "autocast", lambda self, cache=True: contextlib.nullcontext())
        elif how == "weights in bf16":  # the trained networks cast to bf16: Adam updates bf16 weights, no fp32 master copy
            fp32_master = Precision.module
            trained = lambda module: any(p.requires_grad for p in module.parameters())
            patch.setattr(Precision, "module", lambda self, m: m.to(torch.bfloat16) if self.fast and trained(m) else fp32_master(self, m))
        yield


@pytest.mark.parametrize("how, caught", [("autocast off", "generator gradient"), ("weights in bf16", "generator update")])
def test_a_broken_bf16_step_is_caught(tmp_path, monkeypatch, how, caught):
    images = training_batch(1, torch.device("cpu"))
    with _broken(monkeypatch, how):
        problems = bf16_step_disagreements(tmp_path, images)
    assert any(problem.startswith(caught) for problem in problems), problems
