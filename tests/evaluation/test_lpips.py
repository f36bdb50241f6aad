import pytest
import torch

from invertnet.evaluation.lpips import LPIPS, load_lpips

lpips_package = pytest.importorskip("lpips")


def test_matches_the_reference_implementation(encoder):
    reference = lpips_package.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    # give the reference the same (random) backbone as ours
    for index, module in enumerate(encoder.features[:12]):
        for slice_ in (reference.net.slice1, reference.net.slice2, reference.net.slice3, reference.net.slice4, reference.net.slice5):
            if str(index) in slice_._modules and hasattr(module, "weight"):
                slice_._modules[str(index)].load_state_dict(module.state_dict())
    ours = LPIPS(encoder)
    torch.manual_seed(0)
    a, b = torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        expected = reference(a, b, normalize=True).flatten()
    assert torch.allclose(ours(a, b), expected, rtol=1e-4, atol=1e-6)
    assert torch.allclose(ours(a, a), torch.zeros(3), atol=1e-7)


def test_unavailable_offline_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    metric, reason = load_lpips()
    assert metric is None and "alexnet-owt-7be5be79.pth" in reason
