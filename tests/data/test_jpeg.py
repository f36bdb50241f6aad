"""``train --gpu-decode``: JPEGs decoded by torchvision/nvJPEG give the crops Pillow gives.

On the CPU the same code decodes with torchvision's libjpeg, which checks everything but
nvJPEG itself: which files go where, orientation, grouping, order, skipped files. The
CUDA test (skipped without a GPU) compares nvJPEG with Pillow on the same files.
"""

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from invertnet.cli import main
from invertnet.data.batches import EncodedTrainingImages, TrainingImages, decoded_batches, training_batches
from invertnet.data.datasets import DeadLeaves, FolderImages, RunOrder, train_crops
from invertnet.data.jpeg import EncodedBatch, EncodedJpeg, decode_crops, orient, read_jpeg

CUDA = torch.cuda.is_available()


def _pixels(seed: int, size: tuple[int, int]) -> Image.Image:
    """A dead-leaves picture (sharp colour edges, the hard case for chroma subsampling) of ``size`` (width, height)."""
    image = DeadLeaves("val").load(seed)
    array = (image * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array).resize(size)


def _with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def write_zoo(folder) -> dict[str, str]:
    """JPEGs of every kind a data folder holds, and the files the GPU path must leave to Pillow.

    Returns each file's name and where it should be decoded: 'gpu', 'cpu' or 'broken'.
    """
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}

    def save(name: str, kind: str, image: Image.Image | None = None, data: bytes | None = None, **options: object) -> None:
        if data is None:
            assert image is not None
            buffer = io.BytesIO()
            image.save(buffer, "PNG" if name.endswith(".png") else "JPEG", **options)
            data = buffer.getvalue()
        (folder / name).write_bytes(data)
        kinds[name] = kind

    save("a0.jpg", "gpu", _pixels(0, (500, 375)), quality=90)
    save("a1.jpg", "gpu", _pixels(1, (500, 375)), quality=90)  # the same size as a0: decoded as a group
    save("b.jpg", "gpu", _pixels(2, (333, 500)), quality=95, subsampling=0)  # 4:4:4
    save("c.jpg", "gpu", _pixels(3, (640, 480)), quality=85, progressive=True)
    save("d.jpg", "gpu", _pixels(4, (300, 280)).convert("L"), quality=90)
    save("e.jpg", "cpu", _pixels(5, (300, 260)).convert("CMYK"), quality=90)
    for orientation in range(1, 9):
        save(f"f{orientation}.jpg", "gpu", data=_with_orientation(_pixels(6, (320, 260)), orientation))
    whole = (folder / "a0.jpg").read_bytes()
    save("g.jpg", "broken", data=whole[: len(whole) * 3 // 5])  # truncated
    save("h.jpg", "cpu", data=whole + b"\x00trailing")
    save("i.png", "cpu", _pixels(7, (400, 300)))
    save("j.jpg", "broken", data=b"not a jpeg at all\xff\xd9")
    return kinds


def _crops(batches) -> tuple[torch.Tensor, list[int]]:
    images, skipped = [], []
    for batch, more in batches:
        images.append(batch.cpu())
        skipped += more
    return torch.cat(images), skipped


def _order(source, batch_size: int = 7, steps: int = 3) -> RunOrder:
    return RunOrder(len(source), seed=3, batch_size=batch_size, start_step=0, steps=steps)


def test_orientation_is_pillow_s(tmp_path):
    picture = _pixels(8, (40, 30))
    for orientation in range(1, 9):
        with Image.open(io.BytesIO(_with_orientation(picture, orientation))) as opened:
            opened.load()
            raw = torch.from_numpy(np.array(opened.convert("RGB"))).permute(2, 0, 1)
            upright = torch.from_numpy(np.array(ImageOps.exif_transpose(opened).convert("RGB"))).permute(2, 0, 1)
        assert torch.equal(orient(raw, orientation), upright), orientation


def test_workers_pass_on_only_what_nvjpeg_reads_as_pillow_does(tmp_path):
    kinds = write_zoo(tmp_path)
    for name, kind in kinds.items():
        encoded = read_jpeg(tmp_path / name)
        assert (encoded is not None) == (kind == "gpu"), name
    data, orientation = read_jpeg(tmp_path / "f6.jpg")
    assert orientation == 6 and data == (tmp_path / "f6.jpg").read_bytes()
    os.mkfifo(tmp_path / "pipe.jpg")  # never opened: reading it would block
    assert read_jpeg(tmp_path / "pipe.jpg") is None
    source = FolderImages(tmp_path)
    readable = [index for index, path in enumerate(source.files) if kinds.get(path.name, "broken") != "broken"]
    items = [EncodedTrainingImages(source)[(index, 0)][0] for index in readable]
    assert [isinstance(item, EncodedJpeg) for item in items] == [kinds[source.files[index].name] == "gpu" for index in readable]


def test_decoded_batches_are_the_cpu_path_s(tmp_path):
    """torchvision's libjpeg on the CPU: the same crops as Pillow's within a level, the same skipped files."""
    write_zoo(tmp_path)
    source = FolderImages(tmp_path)
    expected, expected_skipped = _crops(training_batches(source, _order(source), torch.device("cpu"), workers=0))
    got, skipped = _crops(decoded_batches(source, _order(source), torch.device("cpu"), workers=0))
    assert skipped == expected_skipped and sorted(set(skipped)) == [source.files.index(tmp_path / n) for n in ("g.jpg", "j.jpg")]
    assert got.shape == expected.shape == (21, 3, 224, 224)
    assert (got - expected).abs().max() * 255 <= 1.01


def test_the_same_crops_with_workers(tmp_path):
    write_zoo(tmp_path)
    source = FolderImages(tmp_path)
    alone, skipped_alone = _crops(decoded_batches(source, _order(source), torch.device("cpu"), workers=0))
    pooled, skipped_pooled = _crops(training_batches(source, _order(source), torch.device("cpu"), workers=2, gpu_decode=True))
    assert torch.equal(alone, pooled) and skipped_alone == skipped_pooled


def test_a_jpeg_the_decoder_fails_on_goes_to_the_cpu_path(tmp_path):
    write_zoo(tmp_path)
    source = FolderImages(tmp_path)
    good = source.files.index(tmp_path / "a0.jpg")
    data, _ = read_jpeg(tmp_path / "a0.jpg")
    broken = EncodedJpeg(data[:200] + bytes(50) + data[-2:], 1, good, 5)  # a header, then nothing
    calls = []

    def reference(index: int, seed: int):
        calls.append((index, seed))
        return TrainingImages(source)[(index, seed)]

    fine = EncodedJpeg(data, 1, good, 9)
    crop = TrainingImages(source)[(good, 7)][0]
    batch = EncodedBatch.collate([fine, crop, broken])
    assert batch.files()[1].tolist() == list(broken.data)
    crops, skipped = decode_crops(batch, torch.device("cpu"), reference)
    assert calls == [(good, 5)] and skipped == []
    assert torch.equal(crops[1], crop) and torch.equal(crops[2], TrainingImages(source)[(good, 5)][0])
    image = torch.from_numpy(np.array(Image.open(tmp_path / "a0.jpg").convert("RGB"))).permute(2, 0, 1)[None]
    assert (crops[0] - train_crops(image.float() / 255.0, [9])[0]).abs().max() * 255 <= 1.01


def test_gpu_decode_is_refused_where_it_cannot_work(tmp_path, capsys):
    write_zoo(tmp_path / "data")
    common = ["train", "--layer", "conv5", "--encoder", "random:0", "--steps", "1", "--batch-size", "2", "--gpu-decode"]
    assert main([*common, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "a"), "--device", "cpu"]) == 1
    assert "gpu_decode (--gpu-decode) decodes JPEGs with nvJPEG on a CUDA device, not cpu" in capsys.readouterr().err
    if CUDA:
        assert main([*common, "--data", "synthetic", "--out", str(tmp_path / "b")]) == 1
        assert "--data synthetic has none" in capsys.readouterr().err


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (nvJPEG)")
def test_nvjpeg_crops_match_pillow_s(tmp_path):
    """nvJPEG against Pillow on the zoo: the same files decoded where, the same skips, crops within decoder tolerance."""
    kinds = write_zoo(tmp_path)
    source = FolderImages(tmp_path)
    order = _order(source, batch_size=len(source), steps=2)
    expected, expected_skipped = _crops(training_batches(source, order, torch.device("cpu"), workers=0))
    got, skipped = _crops(training_batches(source, _order(source, batch_size=len(source), steps=2), torch.device("cuda"), workers=2, gpu_decode=True))
    assert skipped == expected_skipped
    difference = (got - expected).abs() * 255
    names = [source.files[index].name for index, _ in order]
    for name, image in zip(names, difference):
        print(f"{name:8s} {kinds[name]:6s} mean {image.mean():.3f} max {image.max():.1f} (0-255 levels)")
    exact = [i for i, name in enumerate(names) if kinds[name] == "cpu" or name in ("b.jpg", "d.jpg")]  # Pillow's, 4:4:4, grayscale
    assert difference[exact].max() <= 1.01  # the same IDCT: nvJPEG differs from libjpeg-turbo only in chroma upsampling
    assert difference.mean(dim=(1, 2, 3)).max() < 3.0  # 4:2:0 at dead leaves' sharp colour edges: a few levels on average


def test_resume_may_switch_gpu_decode(tmp_path, capsys):
    write_zoo(tmp_path / "data")
    run = str(tmp_path / "run")
    assert main(["train", "--layer", "fc8", "--fc-width", "64", "--encoder", "random:0", "--steps", "1", "--batch-size", "2",
                 "--data", str(tmp_path / "data"),
                 "--out", run, "--device", "cpu", "--workers", "0"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", run, "--resume", "--steps", "2", "--device", "cpu", "--gpu-decode"]) == 1
    assert "gpu_decode (--gpu-decode) decodes JPEGs with nvJPEG on a CUDA device, not cpu" in capsys.readouterr().err  # taken, not refused as a run setting
