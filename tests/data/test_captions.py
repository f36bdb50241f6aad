"""Labelled pictures (issue 23, item 8): every row and column of a grid says what it is."""

import numpy as np
import torch

from invertnet.data.captions import ELLIPSIS, LABEL_WIDTH, LINE, font, labelled_rows, stacked, wrap


def dark(image, box):
    left, top, right, bottom = box
    return int((image[:, top:bottom, left:right].mean(0) < 0.5).sum())


def test_labels_are_drawn_where_they_belong():
    rows = [("input", torch.ones(3, 3, 32, 32)), ("reconstruction from fc6", torch.ones(3, 3, 32, 32))]
    picture = labelled_rows(rows, columns=["a", "b", "c"], title="step 10 of 100")
    header = picture.shape[1] - 2 * 34 - 2
    assert picture.shape == (3, header + 2 * 34 + 2, LABEL_WIDTH + 3 * 34 + 2)
    assert dark(picture, (0, 0, 120, LINE)) > 0  # the title
    assert dark(picture, (0, header, LABEL_WIDTH, header + 34)) > 0  # the first row's label
    assert dark(picture, (0, header + 36, LABEL_WIDTH, header + 70)) > 0  # the second row's
    assert dark(picture, (LABEL_WIDTH, LINE, LABEL_WIDTH + 34, header)) > 0  # column "a"
    assert dark(picture, (LABEL_WIDTH, header, picture.shape[2], picture.shape[1])) == 0  # white images stay white


def test_without_labels_the_images_are_untouched():
    images = torch.rand(2, 3, 16, 16)
    picture = labelled_rows([("", images)])
    assert picture.shape == (3, 16 + 4, 2 * 16 + 6)
    assert np.allclose(picture[:, 2:18, 2:18].numpy(), images[0].numpy(), atol=1 / 255)


def test_wrap_measures_pixels_and_never_drops_a_word():
    face = font()
    lines = wrap("reconstruction from fc6 by a generator", 100)
    assert " ".join(lines) == "reconstruction from fc6 by a generator"
    assert all(face.getlength(line) <= 100 for line in lines) and len(lines) > 1
    label = "/tmp/runs/fc7-paper-200000/generator.safetensors"  # one word wider than a label: broken, not cut
    lines = wrap(label, LABEL_WIDTH - 12)
    assert "".join(lines) == label and len(lines) == 2
    assert all(face.getlength(line) <= LABEL_WIDTH - 12 for line in lines)
    cut = wrap("word " * 100, 60)  # beyond the lines allowed: the last one says so
    assert len(cut) == 4 and cut[-1].endswith(ELLIPSIS) and face.getlength(cut[-1]) <= 60


def test_type_is_legible_at_full_size():
    """Capitals at least 9 pixels high (Pillow's old bitmap font drew them 7 high) and lines that do not touch."""
    band = stacked([torch.ones(3, 8, 300)], title="HEIGHT OF THE TYPE")
    rows = np.nonzero((band[:, :-8].mean(0) < 0.5).any(1).numpy())[0]
    assert 9 <= rows.max() - rows.min() + 1 < LINE
    two = stacked([torch.ones(3, 8, 120)], title="a title long enough to need a second line here")
    assert two.shape[1] == 2 * LINE + 4 + 8
