"""iCNN equals bdpy.recon.torch.icnn.reconstruct on the same networks, targets, start and iterations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from published_formats import reference_net_state
from torch import nn

from invertnet.decoded.icnn import ICNNConfig, centre_crop, icnn, layer_weights
from invertnet.errors import InvertnetError

icnn_module = pytest.importorskip("bdpy.recon.torch.icnn")
models = pytest.importorskip("bdpy.dl.torch.models")


class TinyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 12 * 12, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


MAPPING = {"c1": "features[0]", "c2": "features[2]", "fc": "features[5]"}


def taps(net: TinyEncoder, x: torch.Tensor) -> dict[str, torch.Tensor]:
    c1 = net.features[0](x)
    c2 = net.features[2](torch.relu(c1))
    return {"c1": c1, "c2": c2, "fc": net.features[5](torch.relu(c2).flatten(1))}


def bdpy_reconstruct(targets, encoder, generator, initial, size, iterations, bound, weights, tmp_path, mapping=MAPPING):
    """The cookbook's call (recon_icnn_image_vgg19_dgn_relu7gen_gd.py's opts), without snapshots."""
    return icnn_module.reconstruct(
        {layer: value.numpy()[np.newaxis] for layer, value in targets.items()}, encoder, layer_mapping=mapping, generator=generator,
        n_iter=iterations, loss_func=torch.nn.MSELoss(reduction="sum"), optimizer=torch.optim.SGD, lr=(2.0, 1e-10), momentum=(0.9, 0.9),
        decay=(0.01, 0.01), layer_weights={layer: np.float32(w) for layer, w in weights.items()}, image_size=(size, size, 3),
        crop_generator_output=True, initial_feature=initial.numpy(), feature_size=initial.shape, feature_upper_bound=bound,
        feature_lower_bound=0.0, output_dir=str(tmp_path), save_snapshot=False, disp_interval=10**6, return_loss=True, return_z=True, device="cpu",
    )


def test_icnn_is_bdpys_on_tiny_networks(tmp_path):
    torch.manual_seed(0)
    encoder, generator = TinyEncoder().eval(), nn.Sequential(nn.Linear(16, 3 * 20 * 20), nn.Unflatten(1, (3, 20, 20))).eval()
    with torch.no_grad():
        truth = centre_crop(generator(torch.rand(1, 16)), 16)
        targets = {layer: value[0] for layer, value in taps(encoder, truth).items()}
    initial = torch.randn(16, generator=torch.Generator().manual_seed(1))
    bound = np.full(16, 0.8)
    weights = layer_weights(targets)
    image, code, losses = icnn(targets, generator, lambda x: taps(encoder, x), initial, 16, torch.from_numpy(bound), ICNNConfig(iterations=7), weights)
    theirs, their_losses, their_code = bdpy_reconstruct(targets, encoder, generator, initial, 16, 7, bound, weights, tmp_path)
    # bdpy's returned z is not comparable on the CPU: it is a numpy view of the optimised tensor, so the last step moves it
    # after it made the image (on CUDA .cpu() copies). The image the code made and the losses are what must agree.
    assert (code >= 0).all() and (code <= 0.8).all()
    np.testing.assert_allclose(image.numpy(), theirs, rtol=0, atol=1e-6 * np.abs(theirs).max())
    np.testing.assert_allclose(losses, their_losses, rtol=1e-5)
    assert losses[-1] < losses[0]


def test_icnn_with_caffenet_and_the_labs_generator_is_bdpys(tmp_path):
    """Our CaffeNet and the lab's relu7 generator as invertnet runs them (RGB in [0, 1], the mean added and removed) against
    bdpy's ReferenceNet and AlexNetGenerator (Caffe's BGR space throughout), same weights, three iterations."""
    from invertnet.decoded.generators import TreeGenerator
    from invertnet.encoders.caffenet import random_caffenet
    from invertnet.weights.upconvgan import generator_from_upconvgan
    from invertnet.encoders.tree_taps import tree_features

    torch.manual_seed(0)
    lab = models.AlexNetGenerator().eval()
    ours = TreeGenerator(generator_from_upconvgan(lab.state_dict(), "fc7", biases=True), "fc7", "caffenet", "lab")  # the file: test_generators
    caffenet = random_caffenet(0)
    reference = models.ReferenceNet().eval()
    reference.load_state_dict(reference_net_state(caffenet))
    layers = ("conv1", "relu3", "fc7", "relu7")
    with torch.no_grad():
        images = torch.rand(1, 3, 227, 227, generator=torch.Generator().manual_seed(2))
        targets = {layer: value[0] for layer, value in tree_features(caffenet, images, layers).items()}
    initial = torch.randn(4096, generator=torch.Generator().manual_seed(3)).abs()
    weights = layer_weights(targets)
    image, code, losses = icnn(targets, lambda z: ours.generator.full(z) / 255.0, lambda x: tree_features(caffenet, x, layers), initial, 227,
                               config=ICNNConfig(iterations=3), weights=weights)
    theirs, their_losses, their_code = bdpy_reconstruct(targets, reference, lab, initial, 227, 3, None, weights, tmp_path,
                                                        {layer: models.layer_map("reference_net")[layer] for layer in layers})
    their_image = (theirs[::-1] + np.float32([123, 117, 104]).reshape(3, 1, 1)) / 255.0  # BGR minus the mean -> RGB in [0, 1]
    # float32 rounding of two paths to one image (the mean added and removed) through 3 normalised steps of size 2
    np.testing.assert_allclose(image.numpy(), their_image, rtol=0, atol=1e-4)
    np.testing.assert_allclose(losses, their_losses, rtol=1e-4)


def test_layer_weights_are_the_cookbooks():
    targets = {"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([1.0, 0.0, 0.0])}
    weights = layer_weights(targets)
    assert weights["a"] == pytest.approx((1 / 25) / (1 / 25 + 1)) and weights["b"] == pytest.approx(1 / (1 / 25 + 1))
    with pytest.raises(InvertnetError, match="all zero"):
        layer_weights({"a": torch.zeros(3)})
    with pytest.raises(InvertnetError, match="iterations"):
        ICNNConfig(iterations=0)
