"""The eval table fits 100 columns (issue 23, item 2); --wide keeps every column."""

import io

from rich.console import Console

from invertnet.cli.eval import table
from invertnet.evaluation.protocol import EvalResult


def result(method, checkpoint, layer="fc6"):
    return EvalResult(
        method=method, layer=layer, n=64, image_error=0.4567, feature_error=0.2345, image_normalizer=1.0, feature_normalizer=1.0,
        psnr=14.23, ssim=0.345, ms_ssim=0.456, lpips=None, top1_agreement=0.5, top5_agreement=0.75, checkpoint=checkpoint,
        encoder="caffenet:file:0123456789abcdef", data="/data/imagenet/ILSVRC2012 (val)", comparator="conv5",
    )


RESULTS = [
    result("full: /home/someone/experiments/2026/runs/fc6-paper-long-name/generator.safetensors",
           "/home/someone/experiments/2026/runs/fc6-paper-long-name/generator.safetensors"),
    result("image: /home/someone/weights/fc6_image_loss_v2.safetensors", "/home/someone/weights/fc6_image_loss_v2.safetensors"),
    result("Mahendran & Vedaldi (optimize)", "optimize"),
    result("mean training image", "mean of 1000 images of /data/imagenet (train)"),
]


def render(view, width):
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(view)
    return console.file.getvalue()


def test_the_default_table_fits_100_columns_uncut():
    text = render(table(RESULTS), 100)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "…" not in text
    for short in ("full: fc6-paper-long-name", "image: fc6_image_loss_v2", "M&V optimize", "mean image", "paper: DeePSiM", "paper: M&V"):
        assert any(short in line for line in lines), short
    header = next(line for line in lines if "method" in line and "PSNR" in line)
    for column in ("image %", "feat. %", "SSIM", "LPIPS", "sharp %", "lattice", "top-1 %"):
        assert column in header
    assert "MS-SSIM" not in header and "top-5" not in header  # in --wide and the JSON
    assert "45.7" in text and "14.23" in text
    assert "M&V: Mahendran & Vedaldi" in text and "caffenet:file:0123456789abcdef" in text  # the legend and the encoder, below


def test_wide_keeps_every_column_and_the_paths():
    text = render(table(RESULTS, wide=True), 250)
    assert "/home/someone/experiments/2026/runs/fc6-paper-long-name/generator.safetensors" in text
    assert "comparator" in text and "encoder" in text


def test_at_80_columns_a_row_is_a_line_and_no_header_is_split():
    text = render(table(RESULTS, width=80), 80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "method" in line and "PSNR" in line)
    for column in ("image %", "feat. %", "PSNR", "SSIM", "sharp %", "lattice"):
        assert column in header, column
    assert "LPIPS" not in header and "top-1" not in header  # in --wide and the JSON
    for start in ("full: fc6-paper", "image: fc6_image", "M&V optimize", "mean image"):  # a long name ends in "…"; --wide has it whole
        row = [line for line in lines if line.lstrip().startswith(start)]
        assert len(row) == 1 and "45.7" in row[0] and "14.23" in row[0] and "0.345" in row[0], start  # the whole row on one line
    assert sum(line.lstrip().startswith("paper: ") for line in lines) == 5


def test_off_a_terminal_columns_is_honoured(capsys, trained_run, monkeypatch):
    from conftest import ALEXNET

    from invertnet.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["eval", "--data", "synthetic", "--weights", str(trained_run), "--encoder", ALEXNET, "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 and "feat. %" in out and "LPIPS" not in out.split("\n\n")[0]
