"""A tree's layer names computed by our encoders equal bdpy's FeatureExtractor with its layer_map, on the same weights."""

from __future__ import annotations

import pytest
import torch
from published_formats import reference_net_state, write_layers_caffemodel

from invertnet.encoders import input_size, layer_shapes, load_encoder
from invertnet.encoders.caffenet import random_caffenet
from invertnet.encoders.tree_taps import tree_features, tree_layers
from invertnet.encoders.vgg19_caffe import MODULES, VGG19Caffe, random_vgg19_caffe, state_from_caffe_layers, vgg19_caffe_from_file
from invertnet.errors import InvertnetError
from invertnet.treenames import CAFFENET_TREE_LAYERS, VGG19_TREE_LAYERS

models = pytest.importorskip("bdpy.dl.torch.models")
bdpy_torch = pytest.importorskip("bdpy.dl.torch")


def bdpy_features(net: torch.nn.Module, mapping: dict[str, str], preprocessed: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
    extractor = bdpy_torch.FeatureExtractor(net, list(layers), mapping, device="cpu", detach=True)
    found = extractor.run(preprocessed)
    del extractor
    return {layer: torch.as_tensor(value) for layer, value in found.items()}


def test_caffenet_under_bdpys_reference_net_names():
    ours = random_caffenet(3)
    theirs = models.ReferenceNet().eval()
    theirs.load_state_dict(reference_net_state(ours))
    images = torch.rand(2, 3, 227, 227, generator=torch.Generator().manual_seed(0))
    mapped = [name for name in CAFFENET_TREE_LAYERS if name in models.layer_map("reference_net")]
    expected = bdpy_features(theirs, models.layer_map("reference_net"), ours.preprocess(images), tuple(mapped))
    got = tree_features(ours, images, tuple(CAFFENET_TREE_LAYERS))
    for name in mapped:  # all but Caffe's blobs norm1, norm2, pool5, which layer_map lacks
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5 * float(expected[name].abs().max()))
    blobs = ours(images, ("norm1", "norm2", "conv5", "fc6", "fc7"))  # invertnet's taps are the same blobs under other names
    for tree, own in (("norm1", "norm1"), ("norm2", "norm2"), ("pool5", "conv5"), ("relu6", "fc6"), ("relu7", "fc7")):
        torch.testing.assert_close(got[tree], blobs[own])
    assert tree_layers(ours) == CAFFENET_TREE_LAYERS


@pytest.fixture(scope="module")
def vgg() -> VGG19Caffe:
    return random_vgg19_caffe(0)


def test_vgg19_caffe_is_bdpys_vgg19_with_caffes_input(vgg, tmp_path):
    theirs = models.VGG19().eval()
    theirs.load_state_dict(vgg.state_dict())  # bdpy's module names are ours
    images = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    caffe_input = images.flip(1) * 255 - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1)  # the cookbook's image_preprocess
    torch.testing.assert_close(vgg.preprocess(images), caffe_input)
    expected = bdpy_features(theirs, models.layer_map("vgg19"), caffe_input, VGG19_TREE_LAYERS)
    got = vgg(images, VGG19_TREE_LAYERS)
    for name in VGG19_TREE_LAYERS:
        assert got[name].shape == expected[name].shape == (1, *vgg.feature_shape(name))
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-4 * float(expected[name].abs().max()))
    assert (got["conv1_1"] < 0).any() and (got["relu7"] >= 0).all()  # before and after the ReLU, as bdpy taps them
    assert input_size("vgg19_caffe:random:0") == 224 and layer_shapes("vgg19_caffe")["conv5_4"] == (512, 14, 14)


def test_vgg19_caffe_from_the_caffemodels_layers_and_the_lab_state_dict(vgg, tmp_path):
    """The real files are 575 MB each: the conversion runs on the network's own tensors, the file paths on small files."""
    layers = {name: [vgg.state_dict()[f"{module}.weight"], vgg.state_dict()[f"{module}.bias"]] for name, module in MODULES.items()}
    state = state_from_caffe_layers({name: [w.flatten(), b] for name, (w, b) in layers.items()}, tmp_path / "x.caffemodel",
                                    vgg.state_dict())  # Caffe's flat blobs
    assert all(torch.equal(state[key], value) for key, value in vgg.state_dict().items())
    conv = layers["conv1_1"]
    write_layers_caffemodel(tmp_path / "VGG_ILSVRC_19_layers.caffemodel", [("conv1_1", conv[0], conv[1])], legacy=True)
    with pytest.raises(InvertnetError, match="is not VGG-19: it has no conv1_2"):
        load_encoder(f"vgg19_caffe:{tmp_path / 'VGG_ILSVRC_19_layers.caffemodel'}")
    torch.save({"features.0.weight": conv[0], "features.0.bias": torch.full((64,), float("nan"))}, tmp_path / "part.pt")
    with pytest.raises(InvertnetError, match="VGG-19 weights in .*part.pt"):
        vgg19_caffe_from_file(tmp_path / "part.pt", "x")
    with pytest.raises(InvertnetError, match="needs its weights"):
        load_encoder("vgg19_caffe")
