"""torch.distributed set up from torchrun's environment; plain one-process runs need nothing.

The same code runs with 1 or N processes: without torchrun's variables the world is one
process and every collective below is the identity.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List

import torch
import torch.distributed as dist

from trainers.settings import TrainingError

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    rank: int
    local_rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def _pick_device(preference: str, local_rank: int) -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise TrainingError("config device is 'cuda' but no CUDA GPU is available")
    if preference != "cpu" and torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise TrainingError(f"local rank {local_rank} has no GPU (only "
                                f"{torch.cuda.device_count()} visible); lower --nproc_per_node")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_world(preference: str = "auto") -> World:
    """Join the process group torchrun describes (NCCL on GPUs, Gloo on CPU), if any."""
    present = [v for v in TORCHRUN_VARS if v in os.environ]
    if present and len(present) != len(TORCHRUN_VARS):
        raise TrainingError(f"incomplete torchrun environment: {', '.join(present)} set but not "
                            f"{', '.join(v for v in TORCHRUN_VARS if v not in present)}")
    if not present:
        return World(0, 0, 1, _pick_device(preference, 0))
    rank, local_rank, size = (int(os.environ[v]) for v in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    device = _pick_device(preference, local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kwargs)
    return World(rank, local_rank, size, device)


def close_world(world: World) -> None:
    if world.distributed:
        dist.destroy_process_group()


def all_reduce_sum(x: torch.Tensor, world: World) -> torch.Tensor:
    """Sum over processes, in place; returns x."""
    if world.distributed and world.size > 1:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def all_gather_objects(obj: Any, world: World) -> List[Any]:
    """One picklable object from every process, in rank order."""
    if not (world.distributed and world.size > 1):
        return [obj]
    out: List[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    if world.distributed and world.size > 1:
        dist.barrier()
