"""The KamitaniLab's generator files load as they are and compute bdpy's image; a tree's layer picks the generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from invertnet.decoded.generators import load_tree_generator
from invertnet.errors import InvertnetError
from invertnet.treenames import generator_layer

models = pytest.importorskip("bdpy.dl.torch.models")


def deprocess(bgr: np.ndarray) -> np.ndarray:
    """recon_fg_image.py's img_deprocess (mean B 104, G 117, R 123 added, BGR -> RGB), kept channels-first."""
    return (bgr + np.float32([104, 117, 123]).reshape(1, 3, 1, 1))[:, ::-1]


@pytest.mark.parametrize("cls, tree_layer, shape", [("AlexNetGenerator", "relu7", (2, 4096)), ("AlexNetPool5Generator", "pool5", (2, 256, 6, 6))])
def test_a_lab_file_with_biases_everywhere_computes_bdpys_image(tmp_path, cls, tree_layer, shape):
    from invertnet.decoded.generators import TreeGenerator
    from invertnet.weights.upconvgan import generator_from_upconvgan

    torch.manual_seed(0)
    theirs = getattr(models, cls)().eval()  # torch's initialisation: every tail layer has a non-zero bias
    state = theirs.state_dict()
    assert any(key.startswith("deconv.") for key in state) and state["deconv0.bias"].abs().max() > 0  # each layer twice
    if tree_layer == "pool5":  # the file as torch.save writes it (40 MB; relu7's is 270 MB: converted in memory, the same code)
        torch.save(state, tmp_path / "generator.pt")
        ours = load_tree_generator(str(tmp_path / "generator.pt"), tree_layer, torch.device("cpu"))
    else:
        layer = generator_layer(tree_layer)[0]
        ours = TreeGenerator(generator_from_upconvgan(state, layer, biases=True), layer, "caffenet", "memory")
    assert ours.layer == generator_layer(tree_layer)[0] and ours.rectified
    x = torch.rand(shape)
    with torch.no_grad():
        expected = deprocess(theirs(x).numpy())
    got = ours.full(x).numpy()
    assert got.shape == (2, 3, 256, 256)
    # float32 sums of the same products in another order: ~1e-7 of the values' scale (~100)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_the_two_copies_of_a_layer_must_agree(tmp_path):
    torch.manual_seed(0)
    state = models.AlexNetPool5Generator().state_dict()
    state["deconv.2.weight"] = state["deconv.2.weight"] + 1
    torch.save(state, tmp_path / "g.pt")
    with pytest.raises(InvertnetError, match=r"deconv.2.weight is not the same tensor as conv5_1.weight"):
        load_tree_generator(str(tmp_path / "g.pt"), "pool5", torch.device("cpu"))


def test_zero_tail_biases_make_the_authors_architecture(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = models.AlexNetPool5Generator().eval()
    with torch.no_grad():
        for module in net.deconv:
            if hasattr(module, "bias") and module.bias is not None:
                module.bias.zero_()
    kept = {key: value.contiguous() for key, value in net.state_dict().items() if not key.startswith(("rconv.", "deconv."))}
    save_file(kept, tmp_path / "g.safetensors")  # a safetensors file without invertnet's metadata, one copy of each layer
    ours = load_tree_generator(str(tmp_path / "g.safetensors"), "pool5", torch.device("cpu"))
    assert ours.layer == "conv5" and all(module.bias is None for module in ours.generator.tail if hasattr(module, "bias"))
    x = torch.rand(1, 256, 6, 6)
    with torch.no_grad():
        np.testing.assert_allclose(ours.full(x).numpy(), deprocess(net(x).numpy()), rtol=0, atol=1e-4)


def test_tree_layers_name_generators_by_bdpys_layer_map():
    assert generator_layer("relu7") == ("fc7", False) and generator_layer("pool5") == ("conv5", False)
    assert generator_layer("fc7") == ("fc7", True)  # before the ReLU: used, with a warning on negative values
    with pytest.raises(InvertnetError, match="no generator inverts a tree's 'conv1_1'"):
        generator_layer("conv1_1")
    with pytest.raises(InvertnetError, match="relu7 is invertnet's fc7"):
        generator_layer("relu5")
