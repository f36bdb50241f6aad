import math

import pytest
import torch
from torch import nn

from invertnet.encoders.alexnet import CAFFENET_ONLY_LAYERS, FEATURE_SHAPES, TRAINABLE_LAYERS
from invertnet.errors import InvertnetError
from invertnet.models import Discriminator, Generator


def _table1_fc6_parameters() -> int:
    """Table 1 (fc6) by hand: three fc 4096, then (kind, in, out, kernel) per layer; the tail has no bias (the release's lr_mult 0)."""
    fc = 4096 * 4096 + 4096
    layers = [("uconv", 256, 256, 4), ("conv", 256, 512, 3), ("uconv", 512, 256, 4), ("conv", 256, 256, 3),
              ("uconv", 256, 128, 4), ("conv", 128, 128, 3), ("uconv", 128, 64, 4), ("uconv", 64, 32, 4), ("uconv", 32, 3, 4)]
    convs = sum(cin * cout * k * k for kind, cin, cout, k in layers)
    return 3 * fc + convs


def test_fc6_generator_parameter_count_matches_table1():
    assert sum(p.numel() for p in Generator("fc6").parameters()) == _table1_fc6_parameters() == 56_096_256


@pytest.mark.parametrize("layer", CAFFENET_ONLY_LAYERS)
def test_no_generator_of_ours_for_the_early_layers(layer):
    with pytest.raises(InvertnetError, match=f"for {layer}, use the authors' generator: --weights deepsim:{layer}"):
        Generator(layer)


@pytest.mark.parametrize("layer", TRAINABLE_LAYERS)
def test_generator_shapes(layer):
    generator = Generator(layer)
    features = torch.rand(2, *FEATURE_SHAPES[layer])
    assert generator.full(features).shape == (2, 3, 256, 256)
    out = generator(features)
    assert out.shape == (2, 3, 224, 224)
    assert torch.equal(out, generator.full(features)[..., 16:240, 16:240])


def test_architecture_details():
    fc8, conv5 = Generator("fc8"), Generator("conv5")
    assert fc8.head[0].in_features == 1000
    assert all(m.bias is None and m.kernel_size == (4, 4) and m.stride == (2, 2) for m in fc8.modules() if isinstance(m, nn.ConvTranspose2d))
    assert all(m.bias is None for m in fc8.tail.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))  # conv5_1, conv4_1, conv3_1 too
    assert all(m.bias is not None for m in conv5.head.modules() if isinstance(m, nn.Conv2d))  # the head's convolutions keep theirs
    assert all(m.negative_slope == 0.3 for m in fc8.modules() if isinstance(m, nn.LeakyReLU))
    assert isinstance(fc8.tail[-1], nn.ConvTranspose2d)  # linear output
    x, sizes = torch.rand(1, 256, 6, 6), []
    for module in conv5.head:
        x = module(x)
        if isinstance(module, nn.Conv2d):
            sizes.append(tuple(x.shape[1:]))
    assert sizes == [(512, 6, 6), (512, 6, 6), (512, 4, 4)]


def test_generator_rejects_wrong_features():
    with pytest.raises(ValueError, match="expects features of shape"):
        Generator("fc6")(torch.rand(1, 1000))


@pytest.mark.parametrize("layer", ["conv5", "fc8"])
def test_discriminator(layer):
    d = Discriminator(layer)
    logits = d(torch.rand(3, 3, 224, 224) * 255, torch.rand(3, *FEATURE_SHAPES[layer]))
    assert logits.shape == (3, 2)
    strides = [m.stride[0] for m in d.image_path if isinstance(m, nn.Conv2d)]
    assert strides == [4, 1, 2, 1, 2]
    dropouts = [m.p for m in d.classifier if isinstance(m, nn.Dropout)]
    assert dropouts == [0.5, 0.5]
    d.eval()
    a = d(torch.rand(1, 3, 224, 224) * 255, torch.rand(1, *FEATURE_SHAPES[layer]))
    assert torch.isfinite(a).all()


def test_he_initialisation_keeps_activation_scale():
    torch.manual_seed(0)
    generator = Generator("fc6")
    x, scales = torch.rand(4, 4096), []
    for module in list(generator.head) + list(generator.tail):
        x = module(x)
        if isinstance(module, nn.LeakyReLU):
            scales.append(x.pow(2).mean().sqrt().item())
    assert max(scales) / min(scales) < 4  # the default init would shrink them by orders of magnitude
    assert all(m.bias is None or not m.bias.any() for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_a_generator_file_from_before_the_bias_free_tail_loads_with_its_biases(tmp_path):
    from invertnet import Inverter
    from invertnet.models.generator import has_tail_biases
    from invertnet.weights.checkpoint import GENERATOR_NAME, atomic_save, base_metadata

    old = Generator("fc6", tail_bias=True)
    with torch.no_grad():
        for index in (2, 6, 10):
            old.tail[index].bias.uniform_(-5, 5)
    assert has_tail_biases(old.state_dict()) and not has_tail_biases(Generator("fc6").state_dict())
    path = tmp_path / GENERATOR_NAME
    atomic_save({f"generator.{k}": v for k, v in old.state_dict().items()}, base_metadata("fc6", "random:0", {}, 5, "generator"), path)
    inverter = Inverter.load(None, path, encoder="random:0", device="cpu")
    features = torch.rand(2, 4096)
    with torch.no_grad():
        assert torch.equal(inverter.generator(features), old.eval()(features))


@pytest.mark.parametrize(
    "shape, size, head, stages, output",
    [
        ((256, 6, 6), 224, "conv", 6, 256),  # Table 1's conv5: 6 -> 6 -> 6 -> 4, then 4 -> 256
        ((256, 6, 6), 227, "conv", 6, 256),  # CaffeNet's crop of the same output
        ((4096,), 224, "fc", 6, 256),  # Table 1's fc6
        ((2048, 7, 7), 224, "conv", 5, 224),  # ResNet-50 layer4, VGG-16 pool5: size kept, 7 * 2^5 = 224 exactly
        ((768, 14, 14), 224, "conv", 4, 224),  # ViT-B/16's patch tokens
        ((512, 28, 28), 224, "conv", 3, 224),
        ((64, 224, 224), 224, "conv", 0, 224),  # a map at the input size: a 3x3 convolution to RGB
        ((256, 2, 2), 224, "fc", 6, 256),  # too small for the conv head: flattened into the fc head
        ((2048,), 224, "fc", 6, 256),  # ResNet-50 avgpool
    ],
)
def test_a_generator_for_any_feature_shape(shape, size, head, stages, output):
    from invertnet.models.generator import plan

    found = plan(shape, size)
    assert (found.head, found.stages, found.output_size) == (head, stages, output)
    generator = Generator("x", feature_shape=shape, size=size, width=16 if head == "fc" else 4096)
    upconvolutions = [m for m in generator.tail if isinstance(m, nn.ConvTranspose2d)]
    assert len(upconvolutions) == stages and generator.output_size == output
    assert generator.full(torch.zeros(2, *shape)).shape == (2, 3, output, output)
    assert generator(torch.zeros(2, *shape)).shape == (2, 3, size, size)
    if stages:  # the tail is Table 1's from its last stages: it ends in deconv0 (32 -> 3), every stage doubling the size
        assert upconvolutions[-1].in_channels == 32 and upconvolutions[-1].out_channels == 3


def test_table1_generators_keep_their_layout():
    """The paper's layers build exactly as before (the authors' converted weights load into them by these names)."""
    assert [name for name, _ in Generator("conv5").named_parameters()] == [
        "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias", "head.4.weight", "head.4.bias",
        *(f"tail.{i}.weight" for i in range(0, 17, 2)),
    ]
    assert [tuple(m.weight.shape) for m in Generator("conv5").head if isinstance(m, nn.Conv2d)] == [(512, 256, 3, 3), (512, 512, 3, 3), (512, 512, 3, 3)]
    assert Generator("conv5").head[4].padding == (0, 0)


@pytest.mark.parametrize(
    "shape, message",
    [((512, 7, 9), "square maps"), ((10, 3, 3, 3), "vectors"), ((512, 2, 2), None), ((3, 6, 6), None)],
)
def test_feature_shapes_a_generator_refuses(shape, message):
    from invertnet.models.generator import plan

    if message is None:
        plan(shape, 224)
        return
    with pytest.raises(InvertnetError, match=message):
        plan(shape, 224)


def test_too_many_stages_are_refused():
    from invertnet.models.generator import plan

    with pytest.raises(InvertnetError, match="needs 7 up-convolutions"):
        plan((8, 5, 5), 512)  # 5 * 2^7 = 640: Table 1's tail has six
    with pytest.raises(InvertnetError, match="makes 256 x 256 images"):
        plan((1000,), 299)


@pytest.mark.parametrize("shape, side, values", [((256, 6, 6), None, 9216), ((2048, 7, 7), 2, 8192), ((768, 14, 14), 3, 6912), ((2048,), None, 2048)])
def test_the_discriminators_feature_path_stays_at_pool5s_size(shape, side, values):
    """A large map is average-pooled to the largest side of at most 6 whose values fit conv5's 9,216 before D's first fc."""
    from invertnet.models.discriminator import condition_side

    assert condition_side(shape) == side
    discriminator = Discriminator("x", feature_shape=shape)
    assert discriminator.feature_path[1].in_features == values
    assert discriminator(torch.rand(2, 3, 224, 224) * 255, torch.rand(2, *shape)).shape == (2, 2)
    if side is not None:  # the pooling is the average over each cell
        pooled = discriminator.feature_pool(torch.arange(float(math.prod(shape))).view(1, *shape))
        assert pooled.shape == (1, shape[0], side, side)
