"""One process or many: what torchrun's environment says, and the few collectives training needs.

``torchrun --nproc-per-node N -m invertnet train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK;
without them the same code runs as a single process. NCCL on CUDA, gloo on the CPU (which
is how the tests run two processes). Multi-node runs are torchrun flags alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..devices import resolve_device
from ..errors import InvertnetError


@dataclass(frozen=True)
class Context:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and prints progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device_name: str) -> tuple[Context, torch.device]:
    """Join the process group torchrun describes (if any) and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Context(), resolve_device(device_name)
    context = Context(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    device = resolve_device(device_name)
    if device.type == "cuda":
        if context.local_rank >= torch.cuda.device_count():
            raise InvertnetError(f"LOCAL_RANK {context.local_rank} but only {torch.cuda.device_count()} CUDA devices")
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return context, device


def all_mean(values: torch.Tensor, context: Context) -> torch.Tensor:
    """The mean of ``values`` over all processes (itself in one process)."""
    if context.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= context.world_size
    return values


def in_sync(module: torch.nn.Module, context: Context) -> bool:
    """Whether every process holds the same parameters (compares a checksum; cheap)."""
    if not context.distributed:
        return True
    with torch.no_grad():
        checksum = torch.stack([sum(p.double().sum() for p in module.parameters()), sum(p.double().abs().sum() for p in module.parameters())])
    low, high = checksum.clone(), checksum.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return bool(torch.equal(low, high))


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()
