import math

import pytest
import torch

from invertnet.errors import InvertnetError
from invertnet.training.losses import (
    IMAGE_LOSSES,
    PRESETS,
    Comparator,
    LossConfig,
    adversarial_loss,
    build_comparator,
    discriminator_loss,
    euclidean,
    generator_loss,
    image_term,
)


def test_euclidean_is_caffe_half_sum_over_batch_mean():
    a = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    b = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    # sample 1: 1/2 (1 + 4) = 2.5; sample 2: 1/2 (9 + 16) = 12.5; mean = 7.5
    assert euclidean(a, b).item() == pytest.approx(7.5)


def test_adversarial_terms_match_hand_computation():
    logits_real = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    logits_fake = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
    d_real = [math.exp(2) / (1 + math.exp(2)), 1 / (1 + math.e)]  # softmax probability of "real" (index 1)
    d_fake = [1 / (1 + math.exp(3)), 0.5]
    expected_discr = -sum(math.log(p) for p in d_real) / 2 - sum(math.log(1 - p) for p in d_fake) / 2
    expected_adv = -sum(math.log(p) for p in d_fake) / 2
    assert discriminator_loss(logits_real, logits_fake).item() == pytest.approx(expected_discr, rel=1e-6)
    assert adversarial_loss(logits_fake).item() == pytest.approx(expected_adv, rel=1e-6)


def test_presets_switch_terms_and_keep_paper_weights():
    full = LossConfig.from_preset("full")
    assert (full.lambda_feat, full.lambda_adv, full.lambda_img, full.comparator) == (0.01, 100.0, 2e-6, "conv5")
    image = LossConfig.from_preset("image")
    assert (image.lambda_feat, image.lambda_adv, image.comparator, image.adversarial) == (0.0, 0.0, "none", False)
    assert LossConfig.from_preset("feat+adv").lambda_img == 0.0
    assert LossConfig.from_preset("adv+image").lambda_feat == 0.0
    assert LossConfig.from_preset("feat+image", comparator="fc6", lambda_feat=0.5).lambda_feat == 0.5
    assert set(PRESETS) == {"image", "adv+image", "feat+image", "feat+adv", "full"}


@pytest.mark.parametrize(
    "kwargs, message",
    [({"preset": "nope"}, "unknown loss preset"), ({"comparator": "vgg"}, "unknown comparator"),
     ({"comparator": "none"}, "needs a comparator"), ({"preset": "image", "comparator": "conv5"}, "does not apply"),
     ({"lambda_img": -1.0}, "must be a finite number >= 0"), ({"lambda_feat": float("nan")}, "must be a finite number"),
     ({"lambda_adv": float("inf")}, "must be a finite number"), ({"preset": "adv+image", "lambda_feat": 1.0}, "has no feature term"),
     ({"preset": "feat+image", "lambda_adv": 1.0}, "has no adversarial term"), ({"preset": "feat+adv", "lambda_img": 1.0}, "has no image term"),
     ({"preset": "feat+adv", "image_loss": "ms-ssim"}, r"image_loss \(--image-loss\) does not apply")],
)
def test_bad_loss_settings(kwargs, message):
    with pytest.raises(InvertnetError, match=message):
        LossConfig.from_preset(**kwargs)


def test_generator_loss_is_the_weighted_sum(encoder):
    torch.manual_seed(0)
    fake, real = torch.rand(2, 3, 224, 224) * 255, torch.rand(2, 3, 224, 224) * 255
    logits = torch.randn(2, 2)
    comparator = build_comparator("conv5", encoder)
    config = LossConfig.from_preset("full")
    loss = generator_loss(config, fake, real, comparator, logits)
    feat = 0.5 * (encoder(fake / 255, "conv5") - encoder(real / 255, "conv5")).pow(2).flatten(1).sum(1).mean()
    img = 0.5 * (fake - real).pow(2).flatten(1).sum(1).mean()
    adv = -torch.log_softmax(logits, 1)[:, 1].mean()
    assert loss.terms["feat"].item() == pytest.approx(feat.item(), rel=1e-5)
    assert loss.terms["img"].item() == pytest.approx(img.item(), rel=1e-5)
    assert loss.total.item() == pytest.approx(0.01 * feat.item() + 100 * adv.item() + 2e-6 * img.item(), rel=1e-5)


def test_comparators(encoder):
    assert build_comparator("none", encoder) is None
    assert build_comparator("fc6", encoder).layer == "fc6"
    random = build_comparator("random-conv5", encoder)
    assert isinstance(random, Comparator) and random.network.identity == "random:1"
    assert random(torch.rand(1, 3, 224, 224) * 255).shape == (1, 256, 6, 6)


def test_image_loss_choices():
    a = torch.zeros(2, 3, 224, 224)
    b = torch.full((2, 3, 224, 224), 10.0)
    assert image_term("l1", a, b).item() == pytest.approx(10 * 3 * 224 * 224)
    assert image_term("l2", a, b).item() == pytest.approx(0.5 * 100 * 3 * 224 * 224)
    noisy = (torch.rand(2, 3, 224, 224) * 255)
    assert image_term("ms-ssim", noisy, noisy).item() == pytest.approx(0.0, abs=1e-5)
    assert image_term("ms-ssim", noisy, 255 - noisy).item() > 0.5
    assert LossConfig.from_preset(image_loss="ms-ssim").lambda_img == IMAGE_LOSSES["ms-ssim"]
    assert LossConfig.from_preset(image_loss="l1", lambda_img=1.0).lambda_img == 1.0
    with pytest.raises(InvertnetError, match="unknown image loss"):
        LossConfig.from_preset(image_loss="l3")
