"""--target ENCODER:LAYER:UNIT is read from the right, and every refusal is one clear line."""

import pytest
import torch

from invertnet.errors import InvertnetError
from invertnet.synthesis.targets import Target, check_target, unit_score


@pytest.mark.parametrize(
    "text, encoder, layer, units",
    [("caffenet:fc8:945", "caffenet", "fc8", (945,)), ("random:0:conv5:17", "random:0", "conv5", (17,)),
     ("caffenet:random:0:fc6:1,2,3", "caffenet:random:0", "fc6", (1, 2, 3)), ("/w/x:y.pth:fc7:0", "/w/x:y.pth", "fc7", (0,))],
)
def test_parsed_from_the_right(text, encoder, layer, units):
    target = Target.parse(text)
    assert (target.encoder, target.layer, target.units) == (encoder, layer, units)


@pytest.mark.parametrize(
    "text, position, message",
    [("fc8:945", None, "write ENCODER:LAYER:UNIT"), ("random:0:fc8:x", None, "'x' is not a whole number"),
     ("random:0:fc8:-1", None, "'-1' is not a whole number"), ("random:0:fc8:²", None, "is not a whole number"),
     ("random:0:fc8:1,1", None, "named twice"), ("random:0::1", None, "write ENCODER:LAYER:UNIT"),
     ("random:0:conv5:1", "3", "write X,Y")],
)
def test_bad_targets(text, position, message):
    with pytest.raises(InvertnetError, match=message):
        Target.parse(text, position)


def test_units_and_positions_are_checked_against_the_layer(encoder):
    assert encoder.feature_shape("fc8") == (1000,) and encoder.feature_shape("conv5") == (256, 6, 6)
    with pytest.raises(InvertnetError, match="has no layer 'conv9'"):
        encoder.feature_shape("conv9")
    with pytest.raises(InvertnetError, match=r"unit 1000 of fc8: the layer has 1000 units \(0 to 999\)"):
        check_target(Target.parse("random:0:fc8:1000"), (1000,))
    with pytest.raises(InvertnetError, match="--position 6,0 is outside conv5's 6x6 map"):
        check_target(Target.parse("random:0:conv5:3", "6,0"), (256, 6, 6))
    with pytest.raises(InvertnetError, match="--position applies to a convolutional layer"):
        check_target(Target.parse("random:0:fc8:3", "1,1"), (1000,))
    assert check_target(Target.parse("random:0:conv5:3"), (256, 6, 6)) == (3, 3)  # the centre


def test_the_score_is_the_unit_s_activation(encoder):
    images = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        features = encoder(images, "conv5")
        assert torch.equal(unit_score(encoder, "conv5", 7, (1, 4))(images), features[:, 7, 4, 1])
        assert torch.equal(unit_score(encoder, "fc8", 5, None)(images), encoder(images, "fc8")[:, 5])
