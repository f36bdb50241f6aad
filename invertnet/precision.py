"""Number format and memory layout: bf16 autocast with channels_last, or plain fp32.

``bf16`` runs the convolutions and matrix products of AlexNet, the generator, the comparator
and the discriminator in bfloat16 under :func:`torch.autocast`, keeps the weights, the
optimizer and every loss reduction in fp32 (see :mod:`invertnet.training.losses`) and stores 4-d
tensors channels_last (what the tensor cores' convolution kernels want), and on CUDA turns on
cuDNN's autotuner (``torch.backends.cudnn.benchmark``: training repeats one set of shapes,
and without it cuDNN picked a generic kernel for the gradient of a 3-channel input
convolution that took a fifth of the fc6 step on an H100). ``fp32`` is the plain eager
baseline, PyTorch's defaults (whose convolutions use TF32 on GPUs that have it). ``auto``
is bf16 on a CUDA GPU that supports it and fp32 elsewhere, where bf16 is emulated and
slower. Adam is the fused kernel in both: its ``found_inf`` input is how the training step
skips updates without a host synchronisation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from .errors import InvertnetError
from .names import PRECISIONS


@dataclass(frozen=True)
class Precision:
    """The resolved choice for one device: ``fp32`` or ``bf16``."""

    name: str
    device_type: str

    @classmethod
    def resolve(cls, name: str, device: torch.device) -> Precision:
        """``auto`` becomes bf16 on a bf16-capable CUDA device, fp32 otherwise."""
        if name not in PRECISIONS:
            raise InvertnetError(f"unknown precision {name!r}: choose one of {', '.join(PRECISIONS)}")
        if name == "auto":
            name = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
        return cls(name, device.type)

    @property
    def fast(self) -> bool:
        return self.name == "bf16"

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.fast else torch.contiguous_format

    def autocast(self, cache: bool = True) -> contextlib.AbstractContextManager[object]:
        """The context the forward passes run in; ``cache=False`` for code captured into a CUDA graph."""
        if not self.fast:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16, cache_enabled=cache)

    def configure_backends(self) -> None:
        """Set the process-wide backend switches of this path: cuDNN's autotuner on for bf16 on CUDA, off for fp32.

        Callers that build networks for a path (the trainer) call it, so the fp32 baseline
        and the fast path can be timed one after the other in one process.
        """
        if self.device_type == "cuda":
            torch.backends.cudnn.benchmark = self.fast

    def module(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` with its 4-d weights in this precision's memory layout (in place)."""
        return module.to(memory_format=self.memory_format)

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of images in this precision's memory layout."""
        return images.contiguous(memory_format=self.memory_format)

    def adam(self, parameters: object, lr: float, betas: tuple[float, float], weight_decay: float = 0.0) -> torch.optim.Adam:
        """Adam fused into one kernel (CPU and CUDA), which can skip a step on the device.

        ``weight_decay`` is added to the gradient (L2, Caffe's ``weight_decay``), not decoupled as in AdamW.
        """
        return torch.optim.Adam(parameters, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
