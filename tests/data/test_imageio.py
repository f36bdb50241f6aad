import os

import numpy as np
import pytest
import torch
from PIL import Image

from invertnet.data.datasets import eval_crop
from invertnet.data.imageio import grid, load_image, save_gif, save_image, strip, to_uint8
from invertnet.errors import InvertnetError


def _save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def test_rgb_roundtrip(tmp_path):
    image = torch.rand(3, 20, 30)
    path = save_image(image, tmp_path / "a.png")
    assert torch.equal(to_uint8(load_image(path)), to_uint8(image))


@pytest.mark.parametrize(
    "mode, value, expected",
    [("1", 1, (1.0, 1.0, 1.0)), ("L", 128, (128 / 255,) * 3), ("CMYK", (0, 255, 255, 0), (1.0, 0.0, 0.0))],
)
def test_modes_convert_to_rgb(tmp_path, mode, value, expected):
    suffix = "jpg" if mode == "CMYK" else "png"
    path = _save(Image.new(mode, (8, 8), value), tmp_path / f"x.{suffix}", **({"quality": 100} if mode == "CMYK" else {}))
    pixel = load_image(path)[:, 4, 4]
    assert pixel.tolist() == pytest.approx(expected, abs=0.02)


def test_sixteen_bit_is_scaled(tmp_path):
    array = np.full((4, 4), 32768, dtype=np.uint16)
    path = _save(Image.fromarray(array), tmp_path / "x16.png")  # opens as mode I or I;16
    assert load_image(path)[:, 0, 0].tolist() == pytest.approx([32768 / 65535] * 3, abs=1e-4)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    assert load_image(_save(rgba, tmp_path / "t.png"))[:, 0, 0].tolist() == [1.0, 1.0, 1.0]
    half = Image.new("LA", (4, 4), (0, 128))  # half-transparent black
    assert load_image(_save(half, tmp_path / "la.png"))[0, 0, 0].item() == pytest.approx(127 / 255, abs=0.01)
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 255] + [0] * 765)
    palette.info["transparency"] = 0
    assert load_image(_save(palette, tmp_path / "p.png", transparency=0))[:, 0, 0].tolist() == [1.0, 1.0, 1.0]


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = _save(image, tmp_path / "r.jpg", exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.shape == (3, 40, 20)  # portrait after rotation
    assert loaded[0, 2, 10] > 0.8 and loaded[0, 37, 10] < 0.2  # the stripe is now on top


@pytest.mark.parametrize("kind", ["missing", "folder", "text", "truncated"])
def test_bad_files_are_clear_errors(tmp_path, kind):
    path = tmp_path / "bad.png"
    if kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("not an image")
    elif kind == "truncated":
        save_image(torch.rand(3, 64, 64), path)
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InvertnetError) as error:
        load_image(path)
    assert str(path) in str(error.value)


def test_decompression_bomb_limit_is_kept(tmp_path, monkeypatch):
    path = save_image(torch.rand(3, 64, 64), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64*64 > 2 * 100: Pillow raises
    with pytest.raises(InvertnetError, match="too large"):
        load_image(path)


def test_over_the_warning_threshold_is_refused_without_pillow_s_warning(tmp_path, monkeypatch, recwarn):
    path = save_image(torch.rand(3, 64, 64), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 3000 < 64*64 < 2 * 3000: Pillow only warns
    with pytest.raises(InvertnetError, match="too large"):
        load_image(path)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    path = tmp_path / "fifo.png"
    os.mkfifo(path)
    with pytest.raises(InvertnetError, match="not a regular file"):
        load_image(path)  # opening a FIFO for reading would block forever


@pytest.mark.parametrize("size, kept", [((1, 30000), (32, 1)), ((3000, 2), (2, 64)), ((33, 1), (1, 32)), ((2000, 60), (60, 1920))])
def test_elongated_images_are_read_as_their_central_band(tmp_path, size, kept):
    """A panorama is cropped to 32 times its short side (centred) before any resize, not refused."""
    width, height = size
    ramp = torch.linspace(0, 1, max(size)).expand(min(size), -1)
    image = ramp if width > height else ramp.T
    path = tmp_path / "thin.png"
    Image.fromarray((image.numpy() * 255).round().astype("uint8")).convert("RGB").save(path)
    loaded = load_image(path)
    assert loaded.shape == (3, *kept)
    along = loaded[0, 0] if width > height else loaded[0, :, 0]
    start = (max(size) - len(along)) // 2
    expected = (ramp[0, start : start + len(along)] * 255).round() / 255
    torch.testing.assert_close(along, expected, atol=1e-6, rtol=0)
    crop = eval_crop(loaded, 224)
    assert crop.shape == (3, 224, 224)


def test_an_aspect_ratio_of_32_is_read(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (320, 10)).save(path)
    assert load_image(path).shape == (3, 10, 320)


def test_animations_are_refused(tmp_path):
    frames = [Image.new("RGB", (8, 8), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(InvertnetError, match="holds 3 frames"):
        load_image(tmp_path / "anim.gif")


def test_strip_grid_and_gif(tmp_path):
    images = [torch.zeros(3, 8, 8), torch.ones(3, 8, 8)]
    assert strip(images).shape == (3, 12, 22)  # 2 px padding around and between
    assert grid(torch.stack(images * 2), columns=2).shape == (3, 22, 22)
    path = save_gif(images + [torch.full((3, 8, 8), 0.5)], tmp_path / "a.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 4  # forwards then backwards: 0 1 2 1
    assert not list(tmp_path.glob(".*tmp"))
