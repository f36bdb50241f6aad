"""The authors' models offline: the upconvGAN port's generators converted exactly, CaffeNet
against a reference of plain torch ops, and a .caffemodel reader on files written here."""


import pytest
import torch
import torch.nn.functional as F
from published_formats import EARLY, pb_blob, pb_field, port_features, port_generator, port_state, write_caffemodel, write_port_caffenet

from invertnet.encoders.alexnet import FEATURE_SHAPES, LAYERS
from invertnet.encoders.caffenet import CAFFE_LAYERS, INPUT_SIZE, CaffeNet, caffenet_from_caffemodel, caffenet_from_port, random_caffenet
from invertnet.errors import InvertnetError
from invertnet.files.caffemodel import MalformedCaffeModel, read_caffemodel
from invertnet.weights.upconvgan import RGB_MEAN, convert_upconvgan, generator_from_upconvgan


@pytest.mark.parametrize("port_layer, layer", [("pool5", "conv5"), ("fc6", "fc6"), ("fc8", "fc8"), *((name, name) for name in EARLY)])
def test_the_port_s_generators_convert_exactly(tmp_path, port_layer, layer):
    port = port_generator(port_layer)
    torch.save(port_state(port, quirk=port_layer == "fc6"), tmp_path / "port.pt")
    state = torch.load(tmp_path / "port.pt", weights_only=True)
    generator = generator_from_upconvgan(state, layer).eval()
    features = port_features(port_layer)
    with torch.no_grad():
        expected = port(features)[:, [2, 1, 0]] + torch.tensor(RGB_MEAN).view(1, 3, 1, 1)  # BGR, mean-subtracted -> RGB 0-255
        got = generator.full(features)
        crop = generator(features)
    side = 240 if layer in ("norm1", "norm2") else 256
    margin = (side - 227) // 2
    assert got.shape == (2, 3, side, side) and expected.abs().max() > 10
    assert (got - expected).abs().max() < 1e-3
    assert torch.equal(crop, got[..., margin : margin + 227, margin : margin + 227])


def test_a_port_with_deconvolution_biases_or_other_keys_is_refused():
    state = port_generator("fc6").state_dict()
    convert_upconvgan({f"G.{key}": value for key, value in state.items()}, "fc6")  # upconvGAN's own state dict, under G.
    with pytest.raises(InvertnetError, match="deconv3 has non-zero biases"):
        convert_upconvgan({**state, "deconv3.bias": torch.ones(128)}, "fc6", "the upconvGAN port's file x.pt")
    with pytest.raises(InvertnetError, match="the Caffe file g.caffemodel: conv4_1 has non-zero biases"):
        convert_upconvgan({**state, "conv4_1.bias": torch.ones(256)}, "fc6", "the Caffe file g.caffemodel")
    with pytest.raises(InvertnetError, match="missing defc5.bias"):
        convert_upconvgan({key: value for key, value in state.items() if key != "defc5.bias"}, "fc6")
    with pytest.raises(InvertnetError, match="not the authors' fc8 generator: .*size mismatch"):
        generator_from_upconvgan(state, "fc8")  # fc6's 4096 inputs where fc8 has 1000
    with pytest.raises(InvertnetError, match="not the authors' conv3 generator: missing"):
        generator_from_upconvgan(port_generator("norm1").state_dict(), "conv3")
    with pytest.raises(InvertnetError, match="deconv2.bias holds NaN or infinite values"):
        convert_upconvgan({**state, "deconv2.bias": torch.full((64,), float("nan"))}, "fc6")  # NaN > 0 is False: not a zero bias
    with pytest.raises(InvertnetError, match="deconv2 has 7 biases for 64 outputs"):
        convert_upconvgan({**state, "deconv2.bias": torch.zeros(7)}, "fc6")
    with pytest.raises(InvertnetError, match="defc6.weight is not a tensor of the right kind"):
        convert_upconvgan({**state, "defc6.weight": state["defc6.weight"].to(torch.complex64)}, "fc6")
    early = port_generator("norm1").state_dict()
    with pytest.raises(InvertnetError, match="Rconv6.weight is not a tensor of the right kind"):
        generator_from_upconvgan({**early, "Rconv6.weight": torch.zeros(3)}, "norm1")
    with pytest.raises(InvertnetError, match="not the authors' norm1 generator"):
        generator_from_upconvgan({**early, "conv1_1.bias": torch.zeros(2)}, "norm1")


def reference_caffenet(net: CaffeNet, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """CaffeNet written out with plain ops: groups as split convolutions, LRN by its formula."""
    def grouped(x, module, groups, padding, stride=1):
        xs, ws, bs = x.chunk(groups, 1), module.weight.chunk(groups, 0), module.bias.chunk(groups, 0)
        return torch.cat([F.conv2d(xi, wi, bi, stride=stride, padding=padding) for xi, wi, bi in zip(xs, ws, bs)], 1)

    def lrn(x):
        squared = F.pad(x.pow(2), (0, 0, 0, 0, 2, 2))
        window = sum(squared[:, i : i + x.shape[1]] for i in range(5))
        return x / (1 + 1e-4 / 5 * window) ** 0.75

    bgr = images[:, [2, 1, 0]] * 255 - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1)
    norm1 = lrn(F.max_pool2d(F.relu(grouped(bgr, net.conv1, 1, 0, stride=4)), 3, 2))
    norm2 = lrn(F.max_pool2d(F.relu(grouped(norm1, net.conv2, 2, 2)), 3, 2))
    conv3 = F.relu(grouped(norm2, net.conv3, 1, 1))
    conv4 = F.relu(grouped(conv3, net.conv4, 2, 1))
    pool5 = F.max_pool2d(F.relu(grouped(conv4, net.conv5, 2, 1)), 3, 2)
    fc6 = F.relu(F.linear(pool5.flatten(1), net.fc6.weight, net.fc6.bias))
    fc7 = F.relu(F.linear(fc6, net.fc7.weight, net.fc7.bias))
    fc8 = F.linear(fc7, net.fc8.weight, net.fc8.bias)
    return {"norm1": norm1, "norm2": norm2, "conv3": conv3, "conv4": conv4, "conv5": pool5, "fc6": fc6, "fc7": fc7, "fc8": fc8, "prob": fc8.softmax(1)}


def test_caffenet_is_the_reference():
    net = random_caffenet(0)
    images = torch.rand(2, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got, expected = net(images, LAYERS), reference_caffenet(net, images)
        alone = net(images, "conv3")  # run only as far as asked
    assert got["conv5"].shape == (2, 256, 6, 6) and got["fc8"].shape == (2, 1000)
    assert {name: tuple(got[name].shape[1:]) for name in LAYERS} == FEATURE_SHAPES
    assert torch.equal(alone, got["conv3"])
    for name in expected:
        scale = expected[name].abs().max()
        assert scale > 0 and (got[name] - expected[name]).abs().max() <= 1e-4 * scale, name
    with pytest.raises(InvertnetError, match="227x227"):
        net(torch.rand(1, 3, 224, 224))


@pytest.mark.parametrize("legacy", [True, False])
def test_caffemodel_reader(tmp_path, legacy):
    net = random_caffenet(3)
    write_caffemodel(tmp_path / "caffenet.caffemodel", net, legacy)
    layers = read_caffemodel(tmp_path / "caffenet.caffemodel", max_bytes=1 << 30)
    assert list(layers) == list(CAFFE_LAYERS)
    conv2 = layers["conv2"][0]
    assert tuple(conv2.shape) == (256, 48, 5, 5) and torch.equal(conv2, net.conv2.weight)
    loaded = caffenet_from_caffemodel(tmp_path / "caffenet.caffemodel")
    images = torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad():
        assert torch.equal(loaded(images, "fc8"), net(images, "fc8"))


def test_broken_caffemodels_are_refused(tmp_path):
    net = random_caffenet(3)
    write_caffemodel(tmp_path / "good.caffemodel", net, legacy=False)
    data = (tmp_path / "good.caffemodel").read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(data[: len(data) // 2])
    with pytest.raises(MalformedCaffeModel, match="not a readable .caffemodel"):
        read_caffemodel(tmp_path / "cut.caffemodel", max_bytes=1 << 30)
    (tmp_path / "text.caffemodel").write_bytes(b"name: 'not binary'\n")
    with pytest.raises(InvertnetError):
        read_caffemodel(tmp_path / "text.caffemodel", max_bytes=1 << 30)
    one_layer = pb_field(100, pb_field(1, b"conv1") + pb_field(7, pb_blob(net.conv1.weight, False)) + pb_field(7, pb_blob(net.conv1.bias, False)))
    (tmp_path / "partial.caffemodel").write_bytes(one_layer)
    with pytest.raises(InvertnetError, match="not CaffeNet: it has no conv2"):
        caffenet_from_caffemodel(tmp_path / "partial.caffemodel")


def test_the_port_s_caffenet_is_the_model_zoo_s_in_every_tap(tmp_path):
    net = random_caffenet(4)
    write_caffemodel(tmp_path / "zoo.caffemodel", net, legacy=True)
    write_port_caffenet(tmp_path / "caffenet.pt", net, quirk=True)
    zoo = caffenet_from_caffemodel(tmp_path / "zoo.caffemodel")
    port = caffenet_from_port(torch.load(tmp_path / "caffenet.pt", weights_only=True), "caffenet")
    for path in tmp_path.iterdir():
        path.unlink()  # 240 MB each
    images = torch.rand(2, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        from_zoo, from_port = zoo(images, LAYERS), port(images, LAYERS)
    for layer in LAYERS:
        assert torch.equal(from_zoo[layer], from_port[layer]), layer
    with pytest.raises(InvertnetError, match="the weights do not fit CaffeNet"):
        caffenet_from_port({"conv1.1.weight": torch.zeros(96, 3, 11, 11)}, "caffenet")
