"""``train --log tensorboard``: the run's metrics and sample grids as TensorBoard event files, in ``RUN/tensorboard/``.

``metrics.jsonl`` stays the record (docs/outputs.md); this is the view people already read. Each metrics
record becomes scalars under tags that group what belongs together (``loss/total``, ``raw/img``,
``weighted/img``, ``gate/d_update_rate``, ``speed/images_per_s``, ``lr/generator``...), and each sample
grid an image (``samples``). A resumed run writes a new event file that drops what a killed run had
logged after its checkpoint's step (``purge_step``), so the curves have no doubled stretch. The optional
``tensorboard`` package provides the writer (``pip install 'invertnet[tensorboard]'``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InvertnetError

FOLDER = "tensorboard"
TAGS = {
    "loss": "loss/total", "discr": "loss/discriminator", "images_per_s": "speed/images_per_s", "lr": "lr/generator",
    "d_lr": "lr/discriminator", "d_update_rate": "gate/d_update_rate", "g_update_rate": "gate/g_update_rate",
    "skipped_files": "data/skipped_files",
}
"""Tags of the record's keys other than the loss terms (``raw/NAME``, ``weighted/NAME``)."""
TERMS = ("feat", "adv", "img", "kl")


def check_available() -> None:
    """Refuse ``--log tensorboard`` at once, before any training, when the package that writes its files is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as error:
        raise InvertnetError(
            f"--log tensorboard needs the tensorboard package ({error}): pip install 'invertnet[tensorboard]', or leave out --log"
        ) from None


def tag(key: str) -> str | None:
    """The TensorBoard tag of a metrics record's key, or None for what is not a curve (the step, flags, the schema)."""
    if key in TERMS:
        return f"raw/{key}"
    if key.endswith("_weighted") and key.removesuffix("_weighted") in TERMS:
        return f"weighted/{key.removesuffix('_weighted')}"
    return TAGS.get(key)


class TensorBoardLog:
    """Writes one run's records and samples to ``out/tensorboard``; ``step``: where the run starts (0, or a resume's step)."""

    def __init__(self, out: Path, step: int) -> None:
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        self.folder = out / FOLDER
        self.writer = SummaryWriter(str(self.folder), purge_step=step + 1 if step else None)  # what came after the checkpoint

    def record(self, record: dict[str, object]) -> None:
        step = int(record["step"])  # type: ignore[call-overload]
        for key, value in record.items():
            name = tag(key)
            if name is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(name, float(value), step)
        self.writer.flush()

    def samples(self, picture: torch.Tensor, step: int) -> None:
        """The sample grid (3, H, W) in [0, 1] at ``step``."""
        self.writer.add_image("samples", picture.clamp(0, 1), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
