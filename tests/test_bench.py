"""``invertnet bench``: FLOP counts against known figures, every measurement present, the CLI."""

import json

import pytest
import torch
from conftest import ALEXNET
from torch.utils.flop_counter import FlopCounterMode

from invertnet.bench import BenchConfig, jpeg_folder, pipeline_images_per_s, step_flops, timed_pipeline_batches, training_batch
from invertnet.cli import main
from invertnet.training import TrainConfig, Trainer


def _forward_flops(module, *inputs):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(*inputs)
    return counter.get_total_flops()


def test_alexnet_flops_match_torchvision(encoder):
    # torchvision documents AlexNet at 0.71 GFLOPS (multiply-adds); the counter counts 2 per multiply-add
    assert _forward_flops(encoder, torch.rand(1, 3, 224, 224), "fc8") == pytest.approx(2 * 0.714e9, rel=0.01)


def test_step_flops_are_forward_and_backward_of_each_network(tmp_path, encoder):
    config = TrainConfig(layer="fc8", data="synthetic", out=str(tmp_path / "run"), loss="image", steps=1, batch_size=2, encoder=ALEXNET,
                         device="cpu", workers=0)
    trainer = Trainer(config)
    images = training_batch(2, torch.device("cpu"))
    features = encoder(images, "fc8")
    generator = _forward_flops(trainer.generator, features)
    first = 2 * 2 * 1000 * 4096  # the first linear layer needs no gradient for its input (the features)
    expected = _forward_flops(encoder, images, "fc8") + generator + generator + (generator - first)
    assert step_flops(trainer, images) == expected


def test_generated_jpeg_folder_feeds_the_pipeline():
    with jpeg_folder(BenchConfig(jpeg_count=3)) as folder:
        assert len(folder) == 3 and folder.files[0].suffix == ".jpg"
        assert folder.load(0).shape == (3, 375, 500)
        assert pipeline_images_per_s(folder, batch_size=2, batches=2, device=torch.device("cpu"), workers=0) > 0


def test_pipeline_timing_skips_the_first_round_of_every_worker():
    assert timed_pipeline_batches(8, 0) == (1, 8)  # in-process source: only the first batch is start-up
    assert timed_pipeline_batches(8, 16) == (32, 64)  # 16 workers, two batches each in flight, then four rounds


def test_bench_command_writes_every_figure(capsys, tmp_path):
    code = main(["bench", "--small", "--device", "cpu", "--layer", "fc8", "--batch-size", "1", "--invert-batch", "2",
                 "--json", str(tmp_path / "bench.json")])
    out, _ = capsys.readouterr()
    assert code == 0 and "Training step" in out and "invert" in out and "Input pipeline" in out
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["matmul_tflops"]["bf16"] > 0 and report["matmul_tflops"]["fp32"] > 0
    (row,) = report["train"]
    assert row["layer"] == "fc8" and row["precision"] == "fp32" and row["speedup"] == 1.0  # auto on a CPU is the baseline
    assert row["images_per_s"] > 0 and row["step_gflop"] > 1 and 0 < row["fraction_of_matmul"]
    assert [r["batch_size"] for r in report["invert"]] == [1, 2] and all(r["ms_per_image"] > 0 for r in report["invert"])
    assert report["pipeline"]["synthetic_images_per_s"] > 0 and report["pipeline"]["jpeg_images_per_s"] > 0


@pytest.mark.parametrize(
    "args, message, exit_code",
    [(["--precision", "fp16"], "'fp16' is not one of 'auto', 'fp32', 'bf16'", 2), (["--batch-size", "0"], "batch_size (--batch-size) must be", 1),
     (["--encoder", "resnet50:random:0"], "give the layers to time for resnet50:random:0 with --layer", 1),
     (["--encoder", "resnet50:random:0", "--layer", "conv5"], "has no layer 'conv5'; its layers: conv1", 1)],
)
def test_bench_bad_options(capsys, args, message, exit_code):
    code = main(["bench", "--small", "--device", "cpu", *args])
    _, err = capsys.readouterr()
    assert code == exit_code and message in err and "Traceback" not in err
