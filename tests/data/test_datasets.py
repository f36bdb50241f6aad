import os
from pathlib import Path

import pytest
import torch
from conftest import write_images

from invertnet.data.batches import TrainingImages, collate_training, synthetic_batches, training_batches
from invertnet.data.datasets import (
    BrokenImage,
    DeadLeaves,
    FolderImages,
    RunOrder,
    eval_batches,
    eval_crop,
    open_source,
    train_crop,
    train_crops,
    unique_names,
)
from invertnet.errors import InvertnetError


def test_folder_is_recursive_and_filtered(tmp_path):
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / "a" / "deeper", 1)
    (tmp_path / "notes.txt").write_text("x")
    source = FolderImages(tmp_path)
    assert len(source) == 3
    assert source.name(2) == "a__img01"
    assert source.load(0).shape == (3, 260, 300)


def test_links_loops_and_fifos_in_a_data_folder(tmp_path):
    write_images(tmp_path / "a", 3)
    (tmp_path / "a" / "l1").symlink_to(".")  # loops: the walk must end
    (tmp_path / "a" / "l2").symlink_to("..")
    (tmp_path / "again").symlink_to("a")  # the same real folder under another name
    (tmp_path / "a" / "copy.png").symlink_to(tmp_path / "a" / "img00.png")  # the same real file
    (tmp_path / "a" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    os.mkfifo(tmp_path / "a" / "pipe.png")  # opening it would block
    source = FolderImages(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in source.files] == ["a/img00.png", "a/img01.jpg", "a/img02.png"]


def test_ilsvrc_root_picks_the_split(tmp_path):
    write_images(tmp_path / "train" / "n01440764", 3)
    write_images(tmp_path / "val", 2)
    assert len(open_source(tmp_path, "train")) == 3
    assert len(open_source(tmp_path, "val")) == 2


@pytest.mark.parametrize("make, message", [(lambda p: p, "no images in"), (lambda p: p / "missing", "not found")])
def test_empty_or_missing_folder(tmp_path, make, message):
    with pytest.raises(InvertnetError, match=message):
        open_source(make(tmp_path))


def test_dead_leaves_is_seeded_and_natural_looking():
    source = DeadLeaves("train")
    a, b = source.load(7), source.load(7)
    assert torch.equal(a, b) and a.shape == (3, 256, 256)
    assert 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, source.load(8))
    assert not torch.equal(a, DeadLeaves("val").load(7))
    assert a.std() > 0.05  # not flat
    # dead leaves are piecewise constant: most neighbouring pixels are nearly equal
    assert ((a[:, :, 1:] - a[:, :, :-1]).abs() < 0.02).float().mean() > 0.6


def test_crops():
    image = torch.rand(3, 300, 400)
    crop = eval_crop(image)
    assert crop.shape == (3, 224, 224)
    assert torch.equal(crop, (crop * 255).round() / 255)  # quantised like a PNG
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(train_crop(image, g1), train_crop(image, g2))
    crops = {train_crop(image, torch.Generator().manual_seed(s)).sum().item() for s in range(5)}
    assert len(crops) > 1


def test_batched_crops_are_the_single_crops():
    images = torch.rand(6, 3, 300, 400)  # resized, cropped at different places, some mirrored
    seeds = [11, 12, 13, 14, 15, 16]
    single = torch.stack([train_crop(image, torch.Generator().manual_seed(seed)) for image, seed in zip(images, seeds)])
    assert torch.equal(train_crops(images, seeds), single)


def test_run_order_can_start_anywhere():
    full = list(RunOrder(size=10, seed=1, batch_size=3, start_step=0, steps=8))
    tail = list(RunOrder(size=10, seed=1, batch_size=3, start_step=5, steps=8))
    assert tail == full[15:]
    first_epoch = [index for index, _ in full[:10]]
    assert sorted(first_epoch) == list(range(10))
    other_seed = list(RunOrder(size=10, seed=2, batch_size=3, start_step=0, steps=8))
    assert other_seed != full


def test_ranks_share_out_the_global_batch():
    single = list(RunOrder(size=100, seed=0, batch_size=4, start_step=0, steps=2))
    rank0 = list(RunOrder(size=100, seed=0, batch_size=2, start_step=0, steps=2, rank=0, world_size=2))
    rank1 = list(RunOrder(size=100, seed=0, batch_size=2, start_step=0, steps=2, rank=1, world_size=2))
    assert single == rank0[:2] + rank1[:2] + rank0[2:] + rank1[2:]


def test_broken_training_files_are_skipped_and_counted(tmp_path):
    write_images(tmp_path, 3)
    (tmp_path / "img01.jpg").write_bytes(b"garbage")
    dataset = TrainingImages(FolderImages(tmp_path))
    image, skipped = dataset[(1, 0)]
    assert image.shape == (3, 224, 224) and skipped == [1]
    batch, skipped = collate_training([dataset[(0, 0)], dataset[(1, 1)]])
    assert batch.shape == (2, 3, 224, 224) and skipped == [1]
    with pytest.raises(BrokenImage):
        FolderImages(tmp_path).load(1)


def test_eval_batches_name_every_image(tmp_path):
    write_images(tmp_path, 5)
    batches = list(eval_batches(FolderImages(tmp_path), limit=4, batch_size=3))
    assert [names for names, _ in batches] == [["img00", "img01", "img02"], ["img03"]]
    assert batches[0][1].shape == (3, 3, 224, 224)


def test_synthetic_batches_are_what_the_loader_would_give():
    source = DeadLeaves("train")
    order = RunOrder(len(source), 3, 3, 1, 3, rank=1, world_size=2)
    dataset = TrainingImages(source)
    expected = [dataset[item][0] for item in order]
    batches = list(synthetic_batches(source, order, torch.device("cpu")))
    assert [len(images) for images, _ in batches] == [3, 3] and all(skipped == [] for _, skipped in batches)
    assert torch.equal(torch.cat([images for images, _ in batches]), torch.stack(expected))


def test_names_are_unique_in_a_folder():
    paths = [Path("x.jpg"), Path("x.png"), Path("a/b.png"), Path("a__b.png"), Path("c.png")]
    assert unique_names(paths) == ["x_jpg", "x_png", "a__b_png", "a__b_png~2", "c"]


def test_a_worker_s_error_is_its_own_message(tmp_path):
    (tmp_path / "data").mkdir()
    for i in range(110):
        (tmp_path / "data" / f"{i:03d}.png").write_bytes(b"")  # more than 100 unreadable files in a row
    source = FolderImages(tmp_path / "data")
    order = RunOrder(len(source), seed=0, batch_size=2, start_step=0, steps=1)
    with pytest.raises(InvertnetError) as error:
        next(iter(training_batches(source, order, torch.device("cpu"), workers=1)))
    assert "images in a row cannot be read" in str(error.value) and "Traceback" not in str(error.value)
