"""A training step captured once into a CUDA graph and replayed (``train --cuda-graph``).

An eager DeePSiM step launches some 450 small kernels; at batch 64 on an H100 the host
takes longer to launch them than the GPU takes to run them, so the step is bound by Python
and the CUDA driver, not by the GPU. A CUDA graph records those launches once and replays
them with one call. That is possible because the step never synchronises with the host
(see :meth:`invertnet.training.loop.Trainer.train_step`): every decision (the discriminator gate,
skipping a non-finite update) is already made on the device.

What the step must respect to be captured, and how :class:`CapturedStep` arranges it:

- the first ``warmup`` calls run eagerly on a side stream (real training steps: they create
  the optimizer state and let cuDNN pick its algorithms), as torch's CUDA graph notes ask;
- the input is copied into a static tensor before each replay, and the outputs (the step's
  losses) are cloned after it, because every replay overwrites the same memory;
- state carried from step to step must be updated in place (the gate's state is);
- random numbers (dropout) come from the default CUDA generator, whose seed and offset are
  read at each replay, so reseeding before a replay gives the draws the eager step makes;
- autocast runs without its weight-cast cache, whose copies would not outlive capture.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Outputs = tuple[torch.Tensor | None, ...]


class CapturedStep:
    """``function(x)``, eager for the first ``warmup`` calls, then one CUDA graph replayed per call.

    ``function`` takes one device tensor and returns a tuple of tensors (or None); it may
    change any state in place. Each call returns fresh tensors, never the graph's memory.
    ``before_capture`` runs once, just before capture (to mark optimizers capturable).
    """

    def __init__(self, function: Callable[[torch.Tensor], Outputs], warmup: int = 3, before_capture: Callable[[], None] = lambda: None) -> None:
        self.function = function
        self.warmup = warmup
        self.before_capture = before_capture
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._input: torch.Tensor | None = None
        self._outputs: Outputs = ()

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, x: torch.Tensor) -> Outputs:
        self.calls += 1
        if self.graph is None and self.calls <= self.warmup:
            side = torch.cuda.Stream(x.device)
            side.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(side):
                outputs = self.function(x)
            torch.cuda.current_stream(x.device).wait_stream(side)
            return outputs
        if self.graph is None:
            self.before_capture()
            self._input = x.clone(memory_format=torch.preserve_format)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self._outputs = self.function(self._input)
        else:
            assert self._input is not None
            if x.shape != self._input.shape:
                raise ValueError(f"a captured step takes inputs of shape {tuple(self._input.shape)}, got {tuple(x.shape)}")
            self._input.copy_(x, non_blocking=True)
        self.graph.replay()
        return tuple(None if t is None else t.clone() for t in self._outputs)
