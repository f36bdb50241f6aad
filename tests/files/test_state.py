"""Every network read from a file is checked like a generator: names, shapes, floating dtypes and finite values as
loaded (after the cast to float32), one error line from the CLI, nothing written (issue 33, item 1 and 2)."""

import math

import pytest
import torch
from published_formats import port_generator, write_caffemodel, write_port_caffenet
from safetensors.torch import save_file
from torch import nn

from invertnet.cli import main
from invertnet.encoders import load_encoder
from invertnet.encoders.alexnet import load_alexnet
from invertnet.encoders.caffenet import random_caffenet
from invertnet.errors import InvertnetError
from invertnet.evaluation.lpips import CHANNELS, LPIPS
from invertnet.files.state import checked_state, load_checked

EXPECTED = {"conv.weight": torch.zeros(2, 3), "bn.num_batches_tracked": torch.zeros((), dtype=torch.long)}


def _state(**changes):
    return {"conv.weight": torch.ones(2, 3), "bn.num_batches_tracked": torch.tensor(7)} | changes


def test_a_good_state_is_cast_to_the_network_s_dtypes():
    checked = checked_state(_state(**{"conv.weight": torch.full((2, 3), 0.5, dtype=torch.float64)}), EXPECTED, "w")
    assert checked["conv.weight"].dtype == torch.float32 and torch.equal(checked["conv.weight"], torch.full((2, 3), 0.5))
    assert checked["bn.num_batches_tracked"].dtype == torch.long and int(checked["bn.num_batches_tracked"]) == 7


@pytest.mark.parametrize(("value", "message"), [
    (torch.ones(2, 3, dtype=torch.int8), r"w: conv.weight is int8, not a floating-point tensor"),
    (torch.ones(2, 3, dtype=torch.bool), r"conv.weight is bool, not a floating-point tensor"),
    (torch.ones(2, 3, dtype=torch.complex64), r"conv.weight is complex64, not a floating-point tensor"),
    (torch.tensor([[1.0, math.nan, 0], [0, 0, 0]]), r"conv.weight holds NaN or infinite values \(as float32\)"),
    (torch.tensor([[1.0, -math.inf, 0], [0, 0, 0]]), r"conv.weight holds NaN or infinite values"),
    (torch.tensor([[1e300, 0, 0], [0, 0, 0]], dtype=torch.float64), r"conv.weight holds NaN or infinite values \(as float32\)"),
    (torch.ones(3, 2), r"w do not fit net: conv.weight is \(3, 2\), not \(2, 3\)"),
    ([1.0, 2.0], r"conv.weight is a list, not a tensor"),
])
def test_what_a_network_would_not_survive_is_refused(value, message):
    with pytest.raises(InvertnetError, match=message):
        checked_state(_state(**{"conv.weight": value}), EXPECTED, "w", "net")


def test_names_and_integer_buffers():
    with pytest.raises(InvertnetError, match=r"do not fit net: names 1 missing \(conv.weight\) and 1 unexpected \(conv.bias\)"):
        checked_state({"conv.bias": torch.ones(2), "bn.num_batches_tracked": torch.tensor(1)}, EXPECTED, "w", "net")
    with pytest.raises(InvertnetError, match="bn.num_batches_tracked is float32, not an integer tensor"):
        checked_state(_state(**{"bn.num_batches_tracked": torch.tensor(1.0)}), EXPECTED, "w")
    with pytest.raises(InvertnetError, match="bn.num_batches_tracked is bool"):
        checked_state(_state(**{"bn.num_batches_tracked": torch.tensor(True)}), EXPECTED, "w")


def test_load_checked_leaves_the_network_untouched_when_it_refuses():
    net = nn.Linear(3, 2)
    before = {key: value.clone() for key, value in net.state_dict().items()}
    with pytest.raises(InvertnetError, match="the file: bias holds NaN"):
        load_checked(net, {"weight": torch.ones(2, 3), "bias": torch.tensor([0.0, math.nan])}, "the file")
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())
    load_checked(net, {"weight": torch.ones(2, 3, dtype=torch.float64), "bias": torch.zeros(2)}, "the file")
    assert torch.equal(net.weight, torch.ones(2, 3))


def _broken_caffenet(key: str, value: float) -> nn.Module:
    net = random_caffenet(3)
    with torch.no_grad():
        getattr(net, key.split(".")[0]).get_parameter(key.split(".")[1]).view(-1)[0] = value
    return net


@pytest.mark.parametrize("suffix", [".caffemodel", ".pt", ".safetensors"])
def test_a_caffenet_file_with_an_infinite_bias_is_refused(tmp_path, suffix):
    net, path = _broken_caffenet("conv1.bias", math.inf), tmp_path / f"net{suffix}"
    if suffix == ".caffemodel":
        write_caffemodel(path, net, legacy=False)
    elif suffix == ".pt":
        write_port_caffenet(path, net, quirk=True)
    else:
        save_file(dict(net.state_dict()), str(path))
    with pytest.raises(InvertnetError, match=rf"the CaffeNet weights in \S+net\{suffix}: conv1.bias holds NaN or infinite values"):
        load_encoder(f"caffenet:{path}")


def test_a_caffenet_port_of_integers_or_bools_is_refused(tmp_path):
    net = random_caffenet(3)
    state = {key: value.clone() for key, value in net.state_dict().items()}
    for dtype in (torch.int8, torch.bool):
        torch.save(state | {"fc8.weight": state["fc8.weight"].to(dtype)}, tmp_path / "net.pt")
        with pytest.raises(InvertnetError, match=f"fc8.weight is {str(dtype)[6:]}, not a floating-point tensor"):
            load_encoder(f"caffenet:{tmp_path / 'net.pt'}")


def test_an_alexnet_file_with_a_nan_fc8_is_refused(tmp_path, encoder):
    state = {key: value.clone() for key, value in encoder.state_dict().items()}  # torchvision's names: features.*, classifier.*
    state["classifier.6.bias"][5] = math.nan
    torch.save(state, tmp_path / "alexnet.pth")
    with pytest.raises(InvertnetError, match=r"the AlexNet weights in \S+alexnet.pth: classifier.6.bias holds NaN"):
        load_alexnet(str(tmp_path / "alexnet.pth"))


def test_a_torchvision_classifier_file_with_bad_tensors_is_refused(tmp_path):
    net = load_encoder("squeezenet1_0:random:0").net
    state = {key: value.clone() for key, value in net.state_dict().items()}
    path = tmp_path / "squeezenet.safetensors"
    save_file(state | {"classifier.1.bias": state["classifier.1.bias"].double() + 1e300}, str(path))
    with pytest.raises(InvertnetError, match=r"the squeezenet1_0 weights in \S+: classifier.1.bias holds NaN or infinite values \(as float32\)"):
        load_encoder(f"squeezenet1_0:{path}")
    save_file(state, str(path))
    assert torch.equal(load_encoder(f"squeezenet1_0:{path}").net.state_dict()["classifier.1.weight"], state["classifier.1.weight"])


def test_lpips_linear_weights_are_checked(tmp_path, encoder):
    good = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(CHANNELS)}
    torch.save(good, tmp_path / "alex.pth")
    lpips = LPIPS(encoder, str(tmp_path / "alex.pth"))
    assert torch.equal(lpips.linear[2], good["lin2.model.1.weight"])
    for broken, message in (({"lin3.model.1.weight": torch.full((1, 256, 1, 1), math.nan)}, "lin3.model.1.weight holds NaN"),
                            ({"lin0.model.1.weight": torch.ones(1, 64, 1, 1, dtype=torch.int8)}, "lin0.model.1.weight is int8"),
                            ({"lin1.model.1.weight": torch.ones(192)}, r"lin1.model.1.weight is \(192,\), not \(1, 192, 1, 1\)")):
        torch.save(good | broken, tmp_path / "alex.pth")
        with pytest.raises(InvertnetError, match=rf"LPIPS's linear weights in \S+alex.pth.*{message}"):
            LPIPS(encoder, str(tmp_path / "alex.pth"))
    torch.save([1, 2], tmp_path / "alex.pth")
    with pytest.raises(InvertnetError, match="does not hold LPIPS's linear weights"):
        LPIPS(encoder, str(tmp_path / "alex.pth"))


def _one_line_error(capsys, *args) -> str:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith("invertnet: error: ") and "Traceback" not in err, err
    return err


def test_the_cli_refuses_broken_encoder_files_and_writes_nothing(tmp_path, capsys, pictures):
    net = _broken_caffenet("conv1.bias", math.inf)
    write_caffemodel(tmp_path / "inf.caffemodel", net, legacy=True)
    features = tmp_path / "f.npy"
    err = _one_line_error(capsys, "features", *pictures, "--encoder", f"caffenet:{tmp_path / 'inf.caffemodel'}", "--layer", "fc8", "--out", features)
    assert "conv1.bias holds NaN or infinite values" in err and not features.exists()
    torch.save(port_generator("pool5").state_dict(), tmp_path / "upconvGAN_pool5.pt")
    out = tmp_path / "g.safetensors"
    err = _one_line_error(capsys, "weights", "import", tmp_path / "upconvGAN_pool5.pt", "--layer", "conv5", "--out", out,
                          "--encoder", f"caffenet:{tmp_path / 'inf.caffemodel'}")
    assert "conv1.bias holds NaN or infinite values" in err and not out.exists()


def test_a_port_file_that_overflows_float32_is_not_imported(tmp_path, capsys):
    state = dict(port_generator("pool5").state_dict())
    state["Rconv7.weight"] = state["Rconv7.weight"].double()
    state["Rconv7.weight"].view(-1)[0] = 1e300  # finite in float64, infinite as the float32 the file would hold
    torch.save(state, tmp_path / "upconvGAN_pool5.pt")
    out = tmp_path / "g.safetensors"
    err = _one_line_error(capsys, "weights", "import", tmp_path / "upconvGAN_pool5.pt", "--layer", "conv5", "--out", out,
                          "--encoder", "caffenet:random:0")
    assert "holds NaN or infinite values (as float32)" in err and not out.exists()
