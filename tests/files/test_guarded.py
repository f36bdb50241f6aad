"""Files from elsewhere: FIFOs, devices and symlinks are refused at once, every read goes through invertnet.files."""

from __future__ import annotations

import ast
import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ALEXNET

from invertnet import load_alexnet
from invertnet.cli import main
from invertnet.errors import InvertnetError
from invertnet.files.guarded import check_input, open_append, open_input, read_input, read_text_input
from invertnet.training import TrainConfig, Trainer

PACKAGE = Path(__file__).resolve().parents[2] / "invertnet"


@contextmanager
def deadline(seconds: int = 20):
    """Fail, rather than hang the suite, if the body blocks (the bug these tests guard against)."""

    def expired(signum, frame):
        raise TimeoutError("blocked: a FIFO or a device was opened or read")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(capsys, *args):
    with deadline():
        code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_regular_files_are_read_and_bounded(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"12345")
    assert read_input(path, "the file", max_bytes=5) == b"12345"
    assert check_input(path, "the file") == 5
    with pytest.raises(InvertnetError, match="holds 5 bytes, more than the file can be \\(4\\)"):
        read_input(path, "the file", max_bytes=4)
    with pytest.raises(InvertnetError, match="the file not found"):
        open_input(tmp_path / "missing", "the file")
    with pytest.raises(InvertnetError, match="is a folder"):
        open_input(tmp_path, "the file")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    with pytest.raises(InvertnetError, match="not UTF-8"):
        read_text_input(tmp_path / "latin.txt", "the record", max_bytes=100)


@pytest.mark.parametrize("make", ["fifo", "device", "symlink to a device"])
def test_fifos_and_devices_are_refused_without_blocking(tmp_path, make):
    path = tmp_path / "weights.safetensors"
    if make == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    kind = "FIFO" if make == "fifo" else "character device"
    with deadline(), pytest.raises(InvertnetError, match=f"is a {kind}.*not a regular file"):
        read_input(path, "the weights", max_bytes=1 << 40)


def test_appending_never_follows_a_symlink_or_blocks(tmp_path):
    outside = tmp_path / "outside.txt"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(outside)
    with pytest.raises(InvertnetError, match="is a symlink"):
        open_append(tmp_path / "run" / ".lock", "the run's lock")
    assert not outside.exists()
    os.mkfifo(tmp_path / "run" / "metrics.jsonl")
    with deadline(), pytest.raises(InvertnetError, match="FIFO"):
        open_append(tmp_path / "run" / "metrics.jsonl", "the run's metrics")
    with open_append(tmp_path / "run" / "new.jsonl", "the run's metrics") as handle:
        handle.write("{}\n")
    assert (tmp_path / "run" / "new.jsonl").read_text() == "{}\n"


def test_a_fifo_as_weights_is_refused_by_the_cli(capsys, tmp_path, image_files):
    os.mkfifo(tmp_path / "pipe.safetensors")
    code, _, err = run(capsys, "invert", image_files[0], "--weights", tmp_path / "pipe.safetensors", "--encoder", ALEXNET,
                       "--out", tmp_path / "o")
    assert code != 0 and "FIFO" in err and "Traceback" not in err
    code, _, err = run(capsys, "invert", image_files[0], "--weights", "/dev/zero", "--encoder", ALEXNET, "--out", tmp_path / "o")
    assert code != 0 and "character device" in err and "not found" not in err


@pytest.mark.parametrize("make", ["fifo", "symlink to /dev/zero"])
def test_hub_cache_paths_that_are_not_files_are_refused(tmp_path, monkeypatch, make):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from invertnet.encoders import caffenet_cache_path, load_encoder
    from invertnet.encoders.alexnet import hub_checkpoint_path

    for path in (hub_checkpoint_path(), caffenet_cache_path()):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path) if make == "fifo" else path.symlink_to("/dev/zero")
    with deadline(), pytest.raises(InvertnetError, match="not a regular file"):
        load_alexnet("imagenet")
    with deadline(), pytest.raises(InvertnetError, match="not a regular file"):
        load_encoder("caffenet")


def test_a_fifo_sources_record_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from invertnet.files.downloads import cache_dir
    from invertnet.files.sources import SOURCES_FILE

    cache_dir().mkdir(parents=True)
    os.mkfifo(cache_dir() / SOURCES_FILE)
    code, out, _ = run(capsys, "weights", "list")  # the listing still lists, and says so
    assert code == 0 and "is damaged" in out
    from invertnet.files.sources import recorded

    with deadline(), pytest.raises(InvertnetError, match="is damaged .*FIFO.*delete it"):
        recorded()  # what fetch and every cached download consult first


def _config(out: Path, **overrides) -> TrainConfig:
    settings = dict(layer="fc8", fc_width=64, data="synthetic", out=str(out), steps=1, batch_size=2, encoder=ALEXNET, device="cpu",
                    workers=0)
    return TrainConfig(**{**settings, **overrides})


def test_run_folder_files_that_are_not_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / ".lock")
    with deadline(), pytest.raises(InvertnetError, match="lock.*FIFO"):
        Trainer(_config(out)).run()
    (out / ".lock").unlink()
    outside = tmp_path / "elsewhere.lock"
    (out / ".lock").symlink_to(outside)
    with pytest.raises(InvertnetError, match="symlink"):
        Trainer(_config(out)).run()
    assert not outside.exists()
    (out / ".lock").unlink()
    os.mkfifo(out / "config.json")
    with deadline():
        Trainer(_config(out)).run()  # config.json is replaced whole, never written through
    assert (out / "config.json").is_file()
    (out / "metrics.jsonl").unlink()
    os.mkfifo(out / "metrics.jsonl")
    with deadline(), pytest.raises(InvertnetError, match="metrics.*FIFO"):
        Trainer.resume(out, steps=2).run()


READERS = {
    "open", "torch.load", "Image.open", "archive.open", "load_file", "safe_open", "zipfile.ZipFile", "read_bytes", "read_text",
    "io.loadmat", "io.whosmat", "sio.loadmat", "h5py.File", "hdf5storage.loadmat", "np.load", "np.loadtxt",
}
"""Calls that open or read a file (``read_bytes``/``read_text``: a ``Path``'s, whatever its name)."""
BY_HANDLE = {"handle", "io.BytesIO(data)", "wanted[0]"}
"""First arguments that are already open: a handle from invertnet.files, bytes in memory, a member of a checked zip."""
ALLOWED = {
    ("files/atomic.py", "open", "tmp"): "fsyncs the temporary file it just wrote",
    ("cli/eval.py", "open", "tmp"): "writes the CSV into an atomic temporary file",
    ("weights/checkpoint.py", "safe_open", "str(path)"): "after check_input (safetensors opens by path)",
    ("files/downloads.py", "load_file", "str(path)"): "after check_input (safetensors opens by path)",
    ("files/features.py", "open", "tmp"): "writes the .npy into an atomic temporary file",
    ("files/features.py", "safe_open", "str(path)"): "after check_input (safetensors opens by path)",
    ("synthesis/journal.py", "safe_open", "str(path)"): "after check_input (safetensors opens by path)",
    ("synthesis/journal.py", "open", "tmp"): "writes the scores CSV's header into an atomic temporary file",
    ("synthesis/journal.py", "open", "self.path"): "appends a generation's rows to the scores CSV it wrote",
}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                name = func.attr if func.attr in ("read_bytes", "read_text") else f"{owner}.{func.attr}"
            else:
                name = getattr(func, "id", "")
            if name in READERS:
                yield node.lineno, name, ast.unparse(node.args[0]) if node.args else ""


def test_every_file_is_opened_through_invertnet_files():
    """Files are opened by handle after invertnet.files checked them; the few exceptions are listed with their reason."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module == "files/guarded.py":
            continue
        for line, name, argument in _calls(ast.parse(path.read_text())):
            if argument not in BY_HANDLE and (module, name, argument) not in ALLOWED:
                offenders.append(f"{module}:{line}: {name}({argument})")
    assert not offenders, "open files through invertnet.files: " + ", ".join(offenders)


def test_a_symlinked_lock_in_a_copied_run_is_refused(tmp_path, trained_run):
    run_copy = tmp_path / "run"
    shutil.copytree(trained_run, run_copy)
    (run_copy / ".lock").unlink(missing_ok=True)
    (run_copy / ".lock").symlink_to(tmp_path / "made-elsewhere")
    with pytest.raises(InvertnetError, match="symlink"):
        Trainer.resume(run_copy, steps=3).run()
    assert not (tmp_path / "made-elsewhere").exists()


def test_no_output_is_one_of_the_inputs_by_any_path(tmp_path, capsys, image_files, monkeypatch):
    from invertnet.files.atomic import check_not_input

    source = tmp_path / "in.safetensors"
    source.write_bytes(b"x")
    (tmp_path / "link.safetensors").symlink_to(source)
    os.link(source, tmp_path / "hard.safetensors")
    monkeypatch.chdir(tmp_path)
    for target in ("in.safetensors", "./in.safetensors", tmp_path / "link.safetensors", tmp_path / "hard.safetensors"):
        with pytest.raises(InvertnetError, match="never overwrites an input"):
            check_not_input(target, [source])
    check_not_input(tmp_path / "other", [source])
    code, _, err = run(capsys, "weights", "import", source, "--as", "deepsim:conv5", "--out", "./hard.safetensors")
    assert code != 0 and "never overwrites an input" in err and source.read_bytes() == b"x"
    data = tmp_path / "data"
    shutil.copytree(image_files[0].parent, data)
    for out in (data, data / "runs" / "a"):
        code, _, err = run(capsys, "train", "--layer", "conv5", "--data", data, "--out", out, "--steps", "1", "--encoder", ALEXNET,
                           "--device", "cpu")
        assert code != 0 and "--data" in err and not (data / "config.json").exists() and not (data / "runs").exists()
