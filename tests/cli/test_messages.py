"""Messages that point the right way (issue 34, items 1 and 2): the missing input before the missing generator, the flag
the command has, every missing file with its place once, the real reason LPIPS is missing, the names people type."""

import pytest
from conftest import ALEXNET, run



@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("INVERTNET_WEIGHTS", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_a_missing_data_folder_is_named_not_blamed_on_split(capsys, tmp_path):
    code, _, err = run(capsys, "eval", "--split", "val", "--data", tmp_path / "imagenet-typo", "--layer", "conv5", "--method", "mean")
    assert code == 1 and err == f"invertnet: error: data folder not found: {tmp_path / 'imagenet-typo'} (or use --data synthetic)\n"


def test_a_missing_image_is_named_before_any_generator_is_looked_for(capsys, tmp_path, empty_cache):
    code, _, err = run(capsys, "invert", tmp_path / "nosuch.jpg", "--layer", "fc7")
    assert code == 1 and err == f"invertnet: error: image not found: {tmp_path / 'nosuch.jpg'}\n"


def test_offline_the_missing_files_are_a_short_list_with_what_else_is_needed(capsys, pictures, empty_cache):
    code, _, err = run(capsys, "invert", pictures[0], "--weights", "deepsim:fc7")
    lines = err.splitlines()
    assert code == 1 and lines[0].startswith("invertnet: error: the authors' fc7 generator is not in the cache and INVERTNET_OFFLINE is set")
    assert all(len(line) < 200 for line in lines) and all(line.startswith("  ") for line in lines[1:])
    assert lines[1].startswith("  hf: https://") and lines[2] == f"      at {empty_cache / 'upconvGAN_fc7.pt'}"
    assert "  it will also need CaffeNet (233 MB), not in the cache either:" in lines
    assert f"      at {empty_cache / 'bvlc_reference_caffenet.caffemodel'}" in lines
    assert err.count("upconvGAN_fc7.pt") == 2 and err.count("release_deepsim_v0.zip") == 2  # each URL once, each place once


def test_figure_layers_offline_names_every_missing_model_and_caffenet_once(capsys, pictures, tmp_path, empty_cache):
    code, _, err = run(capsys, "figure", "layers", pictures[0], "--weights", "deepsim", "--out", tmp_path / "f.png")
    assert code == 1 and err.startswith("invertnet: error: 8 of the 8 generators cannot be had:")
    for model in ("norm1", "norm2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        assert f"the authors' {model} generator is not in the cache" in err, model
    assert err.count("it will also need CaffeNet") == 1 and not (tmp_path / "f.png").exists()


def test_calibrate_offline_points_to_a_form_it_takes(capsys, empty_cache, tmp_path):
    code, _, err = run(capsys, "calibrate", "--data", "synthetic", "--encoder", ALEXNET, "--json", tmp_path / "c.json")
    assert code == 1 and "CaffeNet is not in the cache" in err and "--alexnet" not in err and "--encoder" not in err
    assert "caffenet:PATH" in err


@pytest.mark.parametrize("alias, name", [("pool5", "conv5"), ("relu6", "fc6"), ("relu7", "fc7")])
def test_caffe_layer_names_get_invertnet_s_name(capsys, trained_run, pictures, tmp_path, alias, name):
    code, _, err = run(capsys, "features", pictures[0], "--encoder", ALEXNET, "--layer", alias, "--out", tmp_path / "f.npy")
    assert code == 1 and f"({alias} is {name} here: invertnet names the paper's layers conv5 = pool5, fc6 = relu6, fc7 = relu7; pass {name})" in err
    code, _, err = run(capsys, "synthesize", "--target", f"{ALEXNET}:{alias}:1", "--weights", trained_run)
    assert code == 1 and f"pass {name})" in err
    if alias == "pool5":
        code, _, err = run(capsys, "invert", pictures[0], "--weights", trained_run, "--layer", alias)
        assert code == 1 and "inverts conv5 (pool5 is conv5 here" in err


def test_the_html_report_gives_lpips_s_real_reason(tmp_path):
    from invertnet.evaluation.protocol import EvalResult
    from invertnet.evaluation.report import write_report

    reason = "it needs torchvision's ImageNet AlexNet, /x/alexnet-owt-7be5be79.pth (absent; the folder follows TORCH_HOME)"
    result = EvalResult(method="image: run", layer="conv5", n=2, image_error=0.5, feature_error=0.5, image_normalizer=1.0, feature_normalizer=1.0,
                        psnr=10.0, ssim=0.5, ms_ssim=0.5, lpips=None, top1_agreement=None, top5_agreement=None, checkpoint="run",
                        encoder=ALEXNET, data="synthetic", lpips_unavailable=reason)
    page = write_report(tmp_path / "report", [result], 0).read_text()
    assert "LPIPS: not measured (it needs torchvision&#x27;s ImageNet AlexNet, /x/alexnet-owt-7be5be79.pth" in page
    assert "linear layers" not in page


def test_offline_imagenet_weights_are_listed_with_their_place(capsys, pictures, empty_cache):
    code, _, err = run(capsys, "features", pictures[0], "--encoder", "imagenet", "--layer", "fc6", "--out", empty_cache.parent / "f.npy")
    lines = err.splitlines()
    assert code == 1 and lines[0].startswith("invertnet: error: torchvision's ImageNet AlexNet weights is not in the cache")
    assert lines[1].startswith("  torchvision: https://download.pytorch.org/models/alexnet-owt-7be5be79.pth")
    assert lines[2] == f"      at {empty_cache / 'alexnet-owt-7be5be79.pth'}" and "random:SEED" in lines[3] and "--encoder" not in err
