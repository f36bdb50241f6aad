"""The DeePSiM VAE (NIPS section 4.2) and autoencoder (arXiv v1): eq. 8, reparameterisation, training, sampling."""

import json
import math
import shutil

import pytest
import torch
from conftest import ALEXNET
from PIL import Image

from invertnet.cli import main
from invertnet.data.captions import LABEL_WIDTH, LINE
from invertnet.encoders import load_encoder
from invertnet.errors import InvertnetError
from invertnet.inversion import Inverter
from invertnet.models import Autoencoder, Discriminator, build_model
from invertnet.models.vae import reparameterize
from invertnet.training import TrainConfig, Trainer
from invertnet.training.losses import LossConfig, generator_loss, kl_divergence
from invertnet.weights.checkpoint import load_checkpoint

pytestmark = pytest.mark.xdist_group("big_temp")  # its runs hold 0.4 GB or more of temporary files: one such test at a time

TEST_WIDTH = 64

TITLE = LINE + 4
"""A title line and its margin above a picture."""


def _config(out, model, **overrides) -> TrainConfig:
    """A tiny run; a VAE with a 64-wide code (its checkpoint ~0.6 GB, not the paper's 1.6 GB: the suite's temp space)."""
    layer = {"vae": "fc6", "autoencoder": "code"}[model]
    values = dict(model=model, layer=layer, data="synthetic", out=str(out), steps=2, batch_size=2, encoder=ALEXNET, device="cpu", workers=0, log_every=1,
                  fc_width=TEST_WIDTH if model == "vae" else 4096)
    values.update(overrides)
    return TrainConfig(**values)


def test_kl_term_is_eq_8_by_hand():
    mu = torch.tensor([[1.0, 2.0], [0.0, -3.0]])
    sigma2 = torch.tensor([[0.25, 4.0], [1.0, math.e]])
    # sample 1: 1/2 (1 + 4 + 0.25 + 4 - log 0.25 - log 4) = 4.625; sample 2: 1/2 (0 + 9 + 1 + e - 0 - 1) = 4.5 + e / 2
    expected = (4.625 + 4.5 + math.e / 2) / 2
    assert kl_divergence(mu, sigma2.log()).item() == pytest.approx(expected, rel=1e-6)


def test_kl_gradient_is_mu_and_half_of_sigma2_minus_one():
    mu = torch.tensor([[0.5, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.3, -1.0]], requires_grad=True)
    kl_divergence(mu, logvar).backward()
    assert torch.allclose(mu.grad, mu.detach())
    assert torch.allclose(logvar.grad, 0.5 * (logvar.detach().exp() - 1))


def test_reparameterisation_passes_gradients_to_mu_and_sigma():
    mu = torch.tensor([1.0, -1.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    eps = torch.tensor([0.5, -2.0])
    z = reparameterize(mu, logvar, eps)
    assert torch.allclose(z, torch.tensor([1.5, -5.0]))  # mu + sigma * eps, sigma = 1 and 2
    (z * torch.tensor([1.0, 3.0])).sum().backward()
    assert torch.allclose(mu.grad, torch.tensor([1.0, 3.0]))
    # dz/dlogvar = eps * sigma / 2
    assert torch.allclose(logvar.grad, torch.tensor([1.0 * 0.5 * 1.0 * 0.5, 3.0 * -2.0 * 2.0 * 0.5]))


def test_the_kl_term_enters_the_loss_with_its_weight():
    config = LossConfig.from_preset("image", lambda_kl=20.0)
    fake, real = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    loss = generator_loss(config, fake, real, None, None, torch.tensor(3.0))
    assert config.terms == ("img", "kl")
    assert loss.total.item() == pytest.approx(2e-6 * 0.5 * 48 + 20 * 3.0)


def test_vae_shapes_and_the_encoder_it_starts_from(encoder):
    vae = build_model("vae", "fc6", encoder)
    assert torch.equal(vae.encoder.features[0].weight, encoder.features[0].weight)  # starts from --encoder's weights
    assert vae.encoder.features[0].weight.requires_grad and not encoder.features[0].weight.requires_grad
    images = torch.rand(2, 3, 224, 224)
    fake, mu, logvar = vae(images)
    assert fake.shape == (2, 3, 224, 224) and mu.shape == logvar.shape == (2, 4096)
    assert torch.equal(vae.encode(images), mu)  # the code is the mean of q(z|x)
    small = build_model("vae", "fc6", encoder, width=TEST_WIDTH)  # the tests' runs: the same network, a narrower code
    assert small.mu.weight.shape == (TEST_WIDTH, 4096) and small.decoder.head[0].weight.shape == (TEST_WIDTH, TEST_WIDTH)
    assert small(images)[0].shape == (2, 3, 224, 224) and small.sample(3).shape == (3, 3, 224, 224)


@pytest.mark.parametrize("kind, layer, width, message", [
    ("autoencoder", "code", 64, "the autoencoder generator has no fully connected layers"),
    ("inverter", "conv5", 64, "the conv5 generator has no fully connected layers"),
    ("vae", "fc6", 0, "must be an integer from 1 to 16384"),
    ("vae", "fc6", True, "must be an integer"),
])
def test_only_fully_connected_generators_take_a_width(tmp_path, kind, layer, width, message):
    with pytest.raises(InvertnetError, match=message):
        TrainConfig(model=kind, layer=layer, out=str(tmp_path), fc_width=width).validate()


def test_a_caffenet_vae_encodes_227_crops_and_trains_every_encoder_weight():
    vae = build_model("vae", "fc6", load_encoder("caffenet:random:0"))
    assert vae.encoder.fc7 is None and vae.encoder.fc8 is None  # only what computes fc6
    fake, mu, logvar = vae(torch.rand(1, 3, 227, 227))
    assert fake.shape == (1, 3, 227, 227)
    (fake.mean() + mu.mean() + logvar.mean()).backward()
    assert all(p.grad is not None for p in vae.parameters())


def test_autoencoder_code_is_8_channels_8_times_smaller_and_any_size_comes_back():
    autoencoder = Autoencoder((120.0, 115.0, 100.0))
    assert autoencoder.encode(torch.rand(2, 3, 64, 64)).shape == (2, 8, 8, 8)
    assert autoencoder(torch.rand(1, 3, 227, 227)).shape == (1, 3, 227, 227)  # padded to 232, cropped back


def test_unconditional_discriminator():
    d = Discriminator(None, first_stride=2)
    assert d(torch.rand(2, 3, 64, 64) * 255).shape == (2, 2)
    with pytest.raises(ValueError, match="unconditional"):
        d(torch.rand(2, 3, 64, 64), torch.rand(2, 4096))


@pytest.mark.parametrize("model", ["vae", "autoencoder"])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, model):
    straight = Trainer(_config(tmp_path / "straight", model, steps=2))
    straight.run()
    shutil.rmtree(tmp_path / "straight")  # its networks are in memory: the files are only temp space
    Trainer(_config(tmp_path / "split", model, steps=1)).run()
    resumed = Trainer.resume(tmp_path / "split", steps=2, device="cpu", workers=0)
    resumed.run()
    for name, tensor in straight.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name
    for name, tensor in straight.discriminator.state_dict().items():
        assert torch.equal(tensor, resumed.discriminator.state_dict()[name]), name
    checkpoint = load_checkpoint(tmp_path / "split" / "checkpoint.safetensors")
    assert (checkpoint.model, checkpoint.step) == (model, 2)
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert ("kl" in records[-1]) == (model == "vae")
    samples = Image.open(tmp_path / "split" / "samples" / "step_0000002.png")
    crop = 224 if model == "vae" else 64
    rows = 3 if model == "vae" else 2  # inputs, reconstructions (and a VAE's samples from the prior)
    assert samples.size == (LABEL_WIDTH + 8 * (crop + 2) + 2, TITLE + rows * (crop + 2) + 2)  # labelled rows, a title line


def test_autoencoder_trains_on_64_crops(tmp_path):
    trainer = Trainer(_config(tmp_path / "run", "autoencoder"))
    images, _ = next(iter(trainer._loader()))
    assert images.shape == (2, 3, 64, 64)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(model="vae", layer="conv5"), "the VAE's code is fc6"),
        (dict(model="gan"), "unknown model 'gan'"),
        (dict(model="autoencoder", layer="fc6"), "inverts no encoder layer"),
        (dict(model="inverter", layer="fc6", lambda_kl=1.0), r"lambda_kl \(--lambda-kl\) weighs the VAE's KL term"),
        (dict(model="vae", layer="fc6", lambda_kl=-1.0), r"lambda_kl \(--lambda-kl\) must be a finite number >= 0"),
    ],
)
def test_bad_model_settings(tmp_path, overrides, message):
    config = _config(tmp_path / "run", "vae")
    for name, value in overrides.items():
        setattr(config, name, value)
    with pytest.raises(InvertnetError, match=message):
        config.validate()


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    Trainer(_config(out, "vae", steps=1)).run()
    yield out
    shutil.rmtree(out.parent)  # ~0.8 GB: not kept for the modules after this one


def test_sample_is_deterministic_for_a_seed(vae_run, tmp_path, capsys):
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for path, seed in zip(paths, (3, 3, 4)):
        assert main(["sample", "--weights", str(vae_run), "--count", "3", "--seed", str(seed), "--out", str(path), "--device", "cpu"]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    assert Image.open(paths[0]).size == (2 * 226 + 2, TITLE + 2 * 226 + 2)  # 3 samples: a 2x2 grid under a title
    assert capsys.readouterr().out.split() == [str(p) for p in paths]


def test_sample_refuses_a_generator(trained_run, tmp_path, capsys):
    assert main(["sample", "--weights", str(trained_run), "--out", str(tmp_path / "s.png"), "--device", "cpu"]) == 1
    assert "only a VAE has a prior to sample from" in capsys.readouterr().err
    assert main(["sample", "--weights", str(trained_run), "--seed", "99999999999999999999", "--out", str(tmp_path / "s.png")]) == 1
    assert "--seed must be an integer from 0 to 9223372036854775807" in capsys.readouterr().err  # checked before the file is read


def test_vae_inverts_reencodes_and_interpolates_in_its_latent_space(vae_run, image_files, tmp_path, capsys):
    inverter = Inverter.load(None, vae_run, device="cpu")
    assert (inverter.model, inverter.layer, inverter.input_size) == ("vae", "fc6", 224)
    a, b = image_files[:2]
    assert main(["invert", str(a), "--weights", str(vae_run), "--out", str(tmp_path), "--device", "cpu"]) == 0
    assert main(["interpolate", str(a), str(b), "--weights", str(vae_run), "--frames", "3", "--out", str(tmp_path / "i.png"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / f"{a.stem}.vae.png"), str(tmp_path / "i.png")]
    assert Image.open(tmp_path / "i.png").size == (5 * (224 + 2) + 2, TITLE + LINE + 224 + 4)  # A, three codes along the line, B, labelled


def test_eval_puts_the_three_model_kinds_in_one_table(vae_run, trained_run, tmp_path, capsys):
    autoencoder = tmp_path / "ae"
    Trainer(_config(autoencoder, "autoencoder", steps=1)).run()
    args = ["eval", "--data", "synthetic", "--limit", "2", "--weights", str(trained_run), "--weights", str(vae_run),
            "--weights", str(autoencoder), "--json", "-", "--device", "cpu"]
    assert main(args) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [(r["method"].split(":")[0], r["layer"]) for r in results] == [("full", "conv5"), ("vae full", "fc6"), ("autoencoder full", "conv5")]
    assert all(0 < r["image_error_fraction"] < 2 and r["psnr_db"] > 0 for r in results)


def test_train_cli_refuses_a_layer_for_the_autoencoder(tmp_path, capsys):
    args = ["train", "--model", "autoencoder", "--layer", "fc6", "--data", "synthetic", "--out", str(tmp_path / "r"), "--device", "cpu"]
    assert main(args) == 1
    assert "--layer does not apply to --model autoencoder" in capsys.readouterr().err


def test_train_cli_refuses_another_layer_for_the_vae(tmp_path, capsys):
    args = ["train", "--model", "vae", "--layer", "conv5", "--data", "synthetic", "--out", str(tmp_path / "r"), "--device", "cpu"]
    assert main(args) == 1
    assert "the VAE's code is fc6" in capsys.readouterr().err


def test_a_layer_given_with_an_autoencoder_is_refused_with_advice_that_works(tmp_path, image_files, capsys):
    run = tmp_path / "ae"
    Trainer(_config(run, "autoencoder", steps=1)).run()
    common = ["invert", str(image_files[0]), "--weights", str(run), "--device", "cpu", "--out", str(tmp_path / "o")]
    assert main([*common, "--layer", "conv5"]) == 1
    err = capsys.readouterr().err
    assert "is an autoencoder" in err and "leave out the layer (--layer)" in err and "--layer code" not in err
    assert main(common) == 0  # the advice, followed, works


def test_a_layer_given_with_a_vae_is_refused_even_its_own(vae_run, tmp_path, image_files, capsys):
    common = ["invert", str(image_files[0]), "--weights", str(vae_run), "--device", "cpu", "--out", str(tmp_path / "o")]
    assert main([*common, "--layer", "fc6"]) == 1  # the README: a VAE reconstructs through its own code; --layer does not apply
    err = capsys.readouterr().err
    assert "is a VAE" in err and "not from fc6 features; leave out the layer (--layer)" in err
    assert main(common) == 0
