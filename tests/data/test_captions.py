"""Labelled pictures (issue 23, item 8): every row and column of a grid says what it is."""

import numpy as np
import torch

from invertnet.data.captions import LABEL_WIDTH, labelled_rows, wrap


def dark(image, box):
    left, top, right, bottom = box
    return int((image[:, top:bottom, left:right].mean(0) < 0.5).sum())


def test_labels_are_drawn_where_they_belong():
    rows = [("input", torch.ones(3, 3, 32, 32)), ("reconstruction from fc6", torch.ones(3, 3, 32, 32))]
    picture = labelled_rows(rows, columns=["a", "b", "c"], title="step 10 of 100")
    header = picture.shape[1] - 2 * 34 - 2
    assert picture.shape == (3, header + 2 * 34 + 2, LABEL_WIDTH + 3 * 34 + 2)
    assert dark(picture, (0, 0, 120, 12)) > 0  # the title
    assert dark(picture, (0, header, LABEL_WIDTH, header + 34)) > 0  # the first row's label
    assert dark(picture, (0, header + 36, LABEL_WIDTH, header + 70)) > 0  # the second row's
    assert dark(picture, (LABEL_WIDTH, 12, LABEL_WIDTH + 34, header)) > 0  # column "a"
    assert dark(picture, (LABEL_WIDTH, header, picture.shape[2], picture.shape[1])) == 0  # white images stay white


def test_without_labels_the_images_are_untouched():
    images = torch.rand(2, 3, 16, 16)
    picture = labelled_rows([("", images)])
    assert picture.shape == (3, 16 + 4, 2 * 16 + 6)
    assert np.allclose(picture[:, 2:18, 2:18].numpy(), images[0].numpy(), atol=1 / 255)


def test_wrap():
    assert wrap("reconstruction from fc6 by a generator", 12) == ["reconstructi", "from fc6 by", "a generator"]
    assert len(wrap("word " * 100, 10)) == 4
