"""torchvision's classifiers as encoders: each named tap of VGG-16, ResNet-50 and ViT-B/16 against the network run by
hand, feature shapes found without weights against a real pass, any other registry network by its graph nodes, seeds,
files, torch.hub's cache (offline), and one clear line for each refusal."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from invertnet.encoders import TorchvisionEncoder, load_encoder
from invertnet.encoders.classifiers import load_torchvision
from invertnet.files.state import load_checked
from invertnet.errors import InvertnetError


@pytest.fixture(scope="module")
def vgg():
    return load_encoder("vgg16:random:0")


@pytest.fixture(scope="module")
def resnet():
    return load_encoder("resnet50:random:0")


def _image(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def test_vgg16_taps_are_caffes_blobs(vgg):
    image = _image()
    x = (image - vgg.mean) / vgg.std
    net = vgg.net
    found = vgg(image, ("conv1_1", "conv5_3", "pool5", "fc7", "fc8", "prob"))
    torch.testing.assert_close(found["conv1_1"], F.relu(net.features[0](x)))  # after its (in-place, in Caffe) ReLU
    torch.testing.assert_close(found["conv5_3"], net.features[:30](x))
    torch.testing.assert_close(found["pool5"], net.features(x))
    torch.testing.assert_close(found["fc7"], net.classifier[:5](torch.flatten(net.avgpool(net.features(x)), 1)))
    torch.testing.assert_close(found["fc8"], net(x))
    torch.testing.assert_close(found["prob"], torch.softmax(net(x), 1))
    assert vgg.layers[:3] == ("conv1_1", "conv1_2", "pool1") and vgg.layers[-4:] == ("fc6", "fc7", "fc8", "prob")
    assert [name for name in vgg.layers if name.startswith("conv5")] == ["conv5_1", "conv5_2", "conv5_3"]
    assert isinstance(vgg, TorchvisionEncoder) and vgg.input_size == 224 and vgg.identity == "vgg16:random:0"


def test_resnet50_taps_are_its_modules(resnet):
    image = _image(1)
    x = (image - resnet.mean) / resnet.std
    net = resnet.net
    found = resnet(image, ("conv1", "layer2", "avgpool", "fc"))
    torch.testing.assert_close(found["conv1"], net.relu(net.bn1(net.conv1(x))))
    torch.testing.assert_close(found["layer2"], net.layer2(net.layer1(net.maxpool(found["conv1"]))))
    torch.testing.assert_close(found["fc"], net(x))
    assert found["avgpool"].shape == (1, 2048) and resnet(image, "layer4").shape == (1, 2048, 7, 7)
    torch.testing.assert_close(resnet(image, "prob").sum(1), torch.ones(1))


def test_vit_b_16_blocks_are_patch_maps_and_cls_is_the_class_token():
    vit = load_encoder("vit_b_16:random:0")
    image = _image(2)
    net = vit.net
    x = net._process_input((image - vit.mean) / vit.std)
    tokens = torch.cat([net.class_token.expand(1, -1, -1), x], dim=1) + net.encoder.pos_embedding
    for block in net.encoder.layers[:3]:
        tokens = block(tokens)
    found = vit(image, ("block3", "cls", "head", "prob"))
    patches = tokens[:, 1:]  # the 14 x 14 patches in row-major order; the class token left out
    torch.testing.assert_close(found["block3"], patches.transpose(1, 2).reshape(1, 768, 14, 14))
    torch.testing.assert_close(found["block3"][0, :, 1, 2], patches[0, 1 * 14 + 2])  # token (row 1, column 2) at [:, 1, 2]
    final = net.encoder.ln(net.encoder.layers(net.encoder.dropout(torch.cat([net.class_token.expand(1, -1, -1), x], 1) + net.encoder.pos_embedding)))
    torch.testing.assert_close(found["cls"], final[:, 0])
    torch.testing.assert_close(found["head"], net(( image - vit.mean) / vit.std))
    torch.testing.assert_close(found["prob"], torch.softmax(found["head"], 1))
    assert vit.layers == (*(f"block{k}" for k in range(1, 13)), "cls", "head", "prob") and vit.comparator_layer == "block6"


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "vit_b_16"])
def test_feature_shapes_known_without_weights_are_those_of_a_pass(name, vgg, resnet):
    network = {"vgg16": vgg, "resnet50": resnet}.get(name) or load_encoder(f"{name}:random:0")
    found = network(_image(), network.layers)
    assert {layer: tuple(value.shape[1:]) for layer, value in found.items()} == network.feature_shapes()


def test_any_other_registry_network_by_its_graph_nodes():
    from invertnet.encoders import layer_shapes

    net = load_encoder("resnet18:random:0")
    assert net.family == "resnet18" and net.identity == "resnet18:random:0" and net.input_size == 224
    shapes = net.feature_shapes()
    assert shapes["layer3"] == shapes["layer3.1"] == (256, 14, 14) and shapes["avgpool"] == (512, 1, 1) and net.layers[-1] == "prob"
    assert all(layer.count(".") <= 1 for layer in net.layers)  # its modules down to two levels
    torch.testing.assert_close(net(_image(), "layer3"), net.net.layer3(net.net.layer2(net.net.layer1(net(_image(), "maxpool")))))
    assert net.comparator_layer in net.layers and len(net.feature_shape(net.comparator_layer)) == 3  # a spatial layer
    torch.testing.assert_close(net(_image(), "fc"), net.net((_image() - net.mean) / net.std))
    assert layer_shapes("resnet18") == net.feature_shapes()  # the same without building the weights
    with pytest.raises(InvertnetError, match="names no torchvision classifier"):
        load_torchvision("nonet")


def test_random_weights_follow_the_seed_and_leave_the_global_generator_alone(resnet):
    state = torch.random.get_rng_state()
    again = load_encoder("resnet50:random:0")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(again.net.fc.weight, resnet.net.fc.weight)
    assert not torch.equal(load_encoder("resnet50:random:1").net.fc.weight, resnet.net.fc.weight)
    assert not again.training and not any(p.requires_grad for p in again.parameters())


def test_a_state_dict_file_in_torchvisions_names(resnet, tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file(resnet.net.state_dict(), str(path))
    loaded = load_encoder(f"resnet50:{path}")
    path.unlink()  # 98 MB: not kept for the rest of the suite
    assert loaded.identity.startswith("resnet50:file:")
    image = _image(2)
    torch.testing.assert_close(loaded(image, "fc"), resnet(image, "fc"))


def test_weights_that_do_not_fit_are_named(resnet, tmp_path):
    save_file({"features.0.weight": torch.zeros(3)}, str(tmp_path / "alexnet.safetensors"))
    with pytest.raises(InvertnetError, match=r"do not fit torchvision's ResNet: names \d+ missing \(bn1.bias, .*\) and 1 unexpected \(features"):
        load_encoder(f"resnet50:{tmp_path / 'alexnet.safetensors'}")
    state = dict(resnet.net.state_dict()) | {"fc.weight": torch.zeros(10, 2048)}
    with pytest.raises(InvertnetError, match=r"fc.weight is \(10, 2048\), not \(1000, 2048\)"):
        load_checked(resnet.net, state, "the resnet50 weights in x")
    with pytest.raises(InvertnetError, match="not found"):
        load_encoder(f"vgg16:{tmp_path / 'missing.pth'}")


def test_imagenet_weights_come_from_torch_hubs_cache_or_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("INVERTNET_OFFLINE", "1")
    with pytest.raises(InvertnetError, match="vgg16-397923af.pth") as error:
        load_encoder("vgg16")
    assert str(tmp_path / "hub" / "checkpoints") in str(error.value) and "vgg16:PATH" in str(error.value)
    planted = tmp_path / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"not the weights")
    with pytest.raises(InvertnetError, match="does not start with 0676ba61"):
        load_encoder("resnet50")


@pytest.mark.parametrize(
    "call, message",
    [(lambda r: r(_image(), "fc8"), "resnet50:random:0 has no layer 'fc8'; its layers: conv1 64x112x112, pool1 64x56x56"),
     (lambda r: r(torch.rand(1, 3, 227, 227), "fc"), "resnet50 expects 224x224 images"),
     (lambda r: load_encoder("resnet50:random:x"), "the seed after 'resnet50:random:'")],
)
def test_refusals(resnet, call, message):
    with pytest.raises(InvertnetError, match=message):
        call(resnet)
