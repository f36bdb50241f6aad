"""Files in the exact published formats of files invertnet cannot download here, written for the tests.

The upconvGAN port's generators and CaffeNet (``nn.Sequential`` layouts and state-dict keys of
Animadversio's ``upconvGAN`` port, as its ``GAN_utils.py`` defines them, with its ``.1.`` key quirk),
Caffe ``.caffemodel`` files (protobuf ``NetParameter`` messages, field numbers from Caffe's
``src/caffe/proto/caffe.proto``: the ``layer`` format and the legacy ``layers`` one), and the
authors' release zip layout (``release_deepsim_v0/<folder>/generator.caffemodel``).
"""

import zipfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from invertnet.encoders.caffenet import CAFFE_LAYERS, CaffeNet


class Scale(nn.Module):
    """The port's ``ScalarMultiply``."""

    def forward(self, x):
        return 255.0 * x


def _early_port_layers(name: str) -> list[tuple[str, nn.Module]]:
    """The port's norm1, norm2, conv3, conv4 generators, transcribed from its ``upconvGAN.__init__``."""
    act = lambda: nn.LeakyReLU(0.3)  # noqa: E731
    conv = lambda cin, cout, k=3, s=1, p=1: nn.Conv2d(cin, cout, k, s, p)  # noqa: E731
    up = lambda cin, cout: nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)  # noqa: E731
    same = lambda cin, cout: nn.ConvTranspose2d(cin, cout, 3, stride=1, padding=1)  # noqa: E731
    if name in ("norm1", "norm2"):
        first = conv(96, 128, 3, 2, 2) if name == "norm1" else conv(256, 256, 3, 1, 2)
        second = conv(128, 128) if name == "norm1" else conv(256, 128)
        return [("Rconv6", first), ("Rrelu6", act()), ("Rconv7", second), ("Rrelu7", act()), ("Rconv8", conv(128, 128)), ("Rrelu8", act()),
                ("deconv4", up(128, 128)), ("a4", act()), ("conv4_1", conv(128, 128)), ("b4", act()), ("deconv3", up(128, 64)), ("a3", act()),
                ("conv3_1", conv(64, 64)), ("b3", act()), ("deconv2", up(64, 32)), ("a2", act()), ("conv2_1", conv(32, 32)), ("b2", act()),
                ("deconv1", up(32, 16)), ("conv1_1", conv(16, 3)), ("tanh", nn.Tanh()), ("scaling", Scale())]
    return [("Rconv6", conv(384, 384, 3, 1, 0)), ("Rrelu6", act()), ("Rconv7", conv(384, 512, 3, 1, 0)), ("Rrelu7", act()),
            ("Rconv8", conv(512, 512, 2, 1, 0)), ("Rrelu8", act()), ("deconv5", up(512, 256)), ("a5", act()), ("conv5_1", same(256, 256)), ("b5", act()),
            ("deconv4", up(256, 128)), ("a4", act()), ("conv4_1", same(128, 128)), ("b4", act()), ("deconv3", up(128, 128)), ("a3", act()),
            ("conv3_1", same(128, 128)), ("b3", act()), ("deconv2", up(128, 64)), ("a2", act()), ("conv2_1", conv(64, 32)), ("c2", act()),
            ("deconv1", up(32, 16)), ("a1", act()), ("conv1_1", conv(16, 3)), ("tanh", nn.Tanh()), ("scaling", Scale())]


EARLY = ("norm1", "norm2", "conv3", "conv4")


PORT_INPUTS = {"norm1": (96, 27, 27), "norm2": (256, 13, 13), "conv3": (384, 13, 13), "conv4": (384, 13, 13), "pool5": (256, 6, 6), "fc8": (1000,)}


def port_generator(layer: str) -> nn.Sequential:
    """The port's layout for ``layer`` (its names, its Conv2d/ConvTranspose2d, biases: zero in the DeePSiM tail), random weights."""
    act = lambda: nn.LeakyReLU(0.3)  # noqa: E731
    if layer in EARLY:
        layers = _early_port_layers(layer)
    else:
        if layer == "pool5":
            head = [("Rconv6", nn.Conv2d(256, 512, 3, padding=1)), ("r6", act()), ("Rconv7", nn.Conv2d(512, 512, 3, padding=1)), ("r7", act()),
                    ("Rconv8", nn.Conv2d(512, 512, 3)), ("r8", act())]
            first = 512
        else:
            head = [("defc7", nn.Linear(1000 if layer == "fc8" else 4096, 4096)), ("r7", act()), ("defc6", nn.Linear(4096, 4096)), ("r6", act()),
                    ("defc5", nn.Linear(4096, 4096)), ("r5", act()), ("reshape", nn.Unflatten(1, (256, 4, 4)))]
            first = 256
        up = lambda cin, cout: nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)  # noqa: E731
        same = lambda cin, cout: nn.ConvTranspose2d(cin, cout, 3, stride=1, padding=1)  # noqa: E731
        layers = head + [
            ("deconv5", up(first, 256)), ("a5", act()), ("conv5_1", same(256, 512)), ("b5", act()), ("deconv4", up(512, 256)), ("a4", act()),
            ("conv4_1", same(256, 256)), ("b4", act()), ("deconv3", up(256, 128)), ("a3", act()), ("conv3_1", same(128, 128)), ("b3", act()),
            ("deconv2", up(128, 64)), ("a2", act()), ("deconv1", up(64, 32)), ("a1", act()), ("deconv0", up(32, 3))]
    net = nn.Sequential(OrderedDict(layers))
    generator = torch.Generator().manual_seed(len(layer))
    with torch.no_grad():
        for name, module in net.named_children():
            if hasattr(module, "weight"):
                fan_in = module.weight[0].numel() if not isinstance(module, nn.ConvTranspose2d) else module.in_channels * 9
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                zero = layer not in EARLY and name.startswith(("deconv", "conv"))  # the release keeps the DeePSiM tail's biases at zero
                module.bias.copy_(torch.zeros_like(module.bias) if zero else torch.randn(module.bias.shape, generator=generator) * 0.1)
    return net.eval()


def port_state(net: nn.Module, quirk: bool = False) -> dict[str, torch.Tensor]:
    """A port file's state dict; ``quirk``: its fully connected layers' keys as ``defc7.1.weight`` (what the port's loader renames)."""
    state = net.state_dict()
    if not quirk:
        return state
    return {(key.replace(".", ".1.", 1) if key.startswith(("defc", "fc")) else key): value for key, value in state.items()}


def port_features(layer: str, count: int = 2) -> torch.Tensor:
    shape = PORT_INPUTS.get(layer, (4096,))
    return torch.relu(torch.randn(count, *shape, generator=torch.Generator().manual_seed(1))) * 3


def pb_varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def pb_field(number: int, payload: bytes) -> bytes:
    return pb_varint(number << 3 | 2) + pb_varint(len(payload)) + payload


def pb_blob(tensor: torch.Tensor, legacy: bool) -> bytes:
    data = pb_field(5, tensor.numpy().astype("<f4").tobytes())
    if legacy:  # num, channels, height, width (varints)
        dims = list(tensor.shape) + [1] * (4 - tensor.dim())
        return b"".join(pb_varint(number << 3) + pb_varint(dim) for number, dim in zip((1, 2, 3, 4), dims)) + data
    return pb_field(7, pb_field(1, b"".join(pb_varint(dim) for dim in tensor.shape))) + data


def write_layers_caffemodel(path, layers: list[tuple[str, torch.Tensor, torch.Tensor]], legacy: bool, name: str = "CaffeNet") -> None:
    """A .caffemodel in protobuf wire format (caffe.proto's NetParameter): V1 ``layers`` (field 2) or ``layer`` (field 100),
    each with its name and its blobs, weights then bias."""
    message = pb_field(1, name.encode())
    for layer, weight, bias in layers:
        blobs = [pb_blob(weight.detach(), legacy), pb_blob(bias.detach(), legacy)]
        if legacy:
            body = pb_field(4, layer.encode()) + pb_varint(5 << 3) + pb_varint(4) + b"".join(pb_field(6, blob) for blob in blobs)
            message += pb_field(2, body)
        else:
            body = pb_field(1, layer.encode()) + pb_field(2, b"Convolution") + b"".join(pb_field(7, blob) for blob in blobs)
            message += pb_field(100, body)
    path.write_bytes(message)


def write_caffemodel(path, net: CaffeNet, legacy: bool) -> None:
    """CaffeNet as ``bvlc_reference_caffenet.caffemodel``: its layers under Caffe's names."""
    write_layers_caffemodel(path, [(name, getattr(net, name).weight, getattr(net, name).bias) for name in CAFFE_LAYERS], legacy)


def write_port_caffenet(path, net: CaffeNet, quirk: bool) -> None:
    """``caffenet.pt`` as the port stores it: its ``Caffenet.net`` state dict (Caffe's layer names), fc keys with ``.1.`` if ``quirk``."""
    state = {}
    for name in CAFFE_LAYERS:
        key = f"{name}.1" if quirk and name.startswith("fc") else name
        state[f"{key}.weight"], state[f"{key}.bias"] = getattr(net, name).weight.clone(), getattr(net, name).bias.clone()
    torch.save(state, path)


def write_generator_caffemodel(path: Path, net: nn.Sequential, swap: bool = False, head_names: str = "R", deconv_biases: bool = True) -> None:
    """A Caffe generator.caffemodel (``layer`` format) from the port's layout: Linear as InnerProduct, Conv2d as Convolution,
    ConvTranspose2d as Deconvolution; ``swap``: every 3x3 layer stored as its other form (kernel flipped, in/out swapped)."""
    message = b""
    for name, module in net.named_children():
        if not hasattr(module, "weight"):
            continue
        weight, bias = module.weight.detach(), module.bias.detach()
        kind = {nn.Linear: "InnerProduct", nn.Conv2d: "Convolution", nn.ConvTranspose2d: "Deconvolution"}[type(module)]
        if swap and kind != "InnerProduct" and module.kernel_size == (3, 3) and module.stride == (1, 1) and module.padding == (1, 1):
            weight, kind = weight.transpose(0, 1).flip(2, 3), "Convolution" if kind == "Deconvolution" else "Deconvolution"
        blobs = [weight] + ([bias] if deconv_biases or not name.startswith("deconv") else [])
        caffe_name = name if head_names == "R" or not name.startswith("Rconv") else name[1:]
        body = pb_field(1, caffe_name.encode()) + pb_field(2, kind.encode()) + b"".join(pb_field(7, pb_blob(blob, legacy=False)) for blob in blobs)
        message += pb_field(100, body)
    path.write_bytes(pb_field(1, b"generator") + message)


def write_release(path: Path, net: nn.Sequential, folder: str = "pool5") -> Path:
    """A zip laid out as the authors' release: release_deepsim_v0/pool5/generator.caffemodel (and a text file beside it)."""
    caffemodel = path.parent / "generator.caffemodel"
    write_generator_caffemodel(caffemodel, net)
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(caffemodel, f"release_deepsim_v0/{folder}/generator.caffemodel")
        archive.writestr(f"release_deepsim_v0/{folder}/readme.txt", "a generator\n")
    caffemodel.unlink()
    return path


REFERENCE_NET_MODULES = {
    "conv1": "features.0", "conv2": "features.4", "conv3": "features.8", "conv4": "features.10", "conv5": "features.12",
    "fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6",
}
"""Where bdpy's ``ReferenceNet`` (``bdpy/dl/torch/models.py``, the KamitaniLab's torch CaffeNet) keeps each of Caffe's layers."""


def reference_net_state(net: CaffeNet) -> dict[str, torch.Tensor]:
    """``net``'s weights as bdpy's ``ReferenceNet`` state dict names them."""
    return {f"{place}.{kind}": getattr(net, name).state_dict()[kind] for name, place in REFERENCE_NET_MODULES.items() for kind in ("weight", "bias")}
