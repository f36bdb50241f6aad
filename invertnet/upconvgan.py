"""The authors' generators as the upconvGAN port stores them, converted to invertnet's layout.

The port (Binxu Wang's ``upconvGAN``, weights in the Hugging Face repository
``binxu/DeePSim_DosovitskiyBrox2016``) holds, per layer, the state dict of an
``nn.Sequential`` named after the Caffe release's layers (see docs/weights.md):

- fc6, fc7, fc8: ``defc7``, ``defc6``, ``defc5`` (Linear; fc8's ``defc7`` takes 1000 inputs),
  a reshape to 256x4x4; pool5: ``Rconv6``, ``Rconv7`` (3x3, pad 1), ``Rconv8`` (3x3, no pad).
- then ``deconv5``, ``conv5_1``, ``deconv4``, ``conv4_1``, ``deconv3``, ``conv3_1``,
  ``deconv2``, ``deconv1``, ``deconv0``: all ``ConvTranspose2d`` with biases, the ``deconv*``
  4x4 stride 2 pad 1, the ``conv*_1`` 3x3 stride 1 pad 1; leaky ReLU 0.3 between all.
- the output is BGR, 0-255 minus the mean (R 123, G 117, B 104), 256x256.

Converting: the linear and head layers are copied; a 3x3 stride-1 transposed convolution is
the convolution with the kernel flipped and in/out channels swapped; the tail's layers (the
4x4 up-convolutions and the 3x3 conv5_1, conv4_1, conv3_1) are copied without their biases,
which must be zero (Caffe kept them at zero with ``lr_mult: 0``: a port whose tail biases are
not zero is not the release, and is refused); the last layer's output channels are
reordered to RGB and the mean is added by :class:`Generator`.
"""

from __future__ import annotations

import torch

from .caffenet import INPUT_SIZE, RGB_MEAN
from .errors import InvertnetError
from .models import Generator

PORT_LAYERS = {"pool5": "conv5", "fc6": "fc6", "fc7": "fc7", "fc8": "fc8"}
"""The port's layer names -> ours (the port says pool5 for what we call conv5)."""
HEAD = {"conv5": ("Rconv6", "Rconv7", "Rconv8"), "fc6": ("defc7", "defc6", "defc5")}
TAIL = ("deconv5", "conv5_1", "deconv4", "conv4_1", "deconv3", "conv3_1", "deconv2", "deconv1", "deconv0")
"""The port's tail in order; ours is ``tail.0``, ``tail.2``, ... (an activation between each)."""


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept both the ``nn.Sequential``'s own state dict and upconvGAN's (keys under ``G.``)."""
    if state and all(key.startswith("G.") for key in state):
        return {key[2:]: value for key, value in state.items()}
    return dict(state)


def convert_upconvgan(state: dict[str, torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    """Our generator's state dict from the port's for ``layer`` (ours: conv5, fc6, fc7, fc8)."""
    state = _strip_prefix(state)
    head = HEAD["conv5" if layer == "conv5" else "fc6"]
    expected = {f"{name}.{kind}" for name in (*head, *TAIL) for kind in ("weight", "bias")}
    if set(state) != expected:
        problems = [f"{what} {', '.join(sorted(keys)[:6])}" for what, keys in (("missing", expected - set(state)), ("unexpected", set(state) - expected)) if keys]
        raise InvertnetError(f"not the upconvGAN port's {layer} generator: {'; '.join(problems)}")
    ours: dict[str, torch.Tensor] = {}
    for index, name in enumerate(head):
        ours[f"head.{2 * index}.weight"] = state[f"{name}.weight"].float()
        ours[f"head.{2 * index}.bias"] = state[f"{name}.bias"].float()
    for index, name in enumerate(TAIL):
        weight, bias = state[f"{name}.weight"].float(), state[f"{name}.bias"].float()
        key = f"tail.{2 * index}"
        if bias.abs().max() > 0:
            raise InvertnetError(
                f"the port's {name} has non-zero biases (largest {bias.abs().max():.3g}): the release's tail layers have none "
                "(Caffe lr_mult 0), so this is not the authors' generator"
            )
        if name.startswith("conv"):  # 3x3 stride 1: a convolution with the kernel flipped, in and out swapped
            ours[f"{key}.weight"] = weight.transpose(0, 1).flip(2, 3).contiguous()
        else:
            ours[f"{key}.weight"] = weight[:, [2, 1, 0]].contiguous() if name == "deconv0" else weight
    return ours


def generator_from_upconvgan(state: dict[str, torch.Tensor], layer: str) -> Generator:
    """The authors' generator for ``layer`` as an invertnet :class:`Generator` (RGB, CaffeNet's mean added)."""
    generator = Generator(layer, mean=RGB_MEAN, size=INPUT_SIZE)
    try:
        generator.load_state_dict(convert_upconvgan(state, layer))
    except RuntimeError as error:  # right names, wrong shapes
        raise InvertnetError(f"not the upconvGAN port's {layer} generator: {error}") from None
    return generator
