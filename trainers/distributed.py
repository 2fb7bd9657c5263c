"""torch.distributed set up from torchrun's environment; plain one-process runs need nothing.

The same code runs with 1 or N processes: without torchrun's variables the world is one
process and every collective below is the identity.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

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
    backend: str = "gloo"        # of the process group; decides where collectives run
    local_size: int = 1          # processes on this machine

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def choose_gpu(preference: str, device_count: int, local_rank: int) -> Optional[int]:
    """The CUDA device index a process trains on, None for the CPU.

    One visible GPU is the process's own, whatever its local rank (SLURM's
    --gpus-per-task=1 shows each process only its GPU); with several, the local rank picks."""
    if preference == "cpu" or (preference == "auto" and device_count == 0):
        return None
    if device_count == 0:
        raise TrainingError("config device is 'cuda' but no CUDA GPU is available")
    if device_count == 1:
        return 0
    if local_rank < device_count:
        return local_rank
    raise TrainingError(f"local rank {local_rank} has no GPU: only {device_count} are visible "
                        "to it and there is more than one, so the local rank must pick one; "
                        "lower --nproc_per_node or show each process one GPU")


def choose_backend(preference: str, device: torch.device) -> str:
    """NCCL for GPUs, Gloo for the CPU, unless the config names one (Gloo lets several
    processes share one GPU, which NCCL refuses)."""
    if preference == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if preference == "nccl" and device.type != "cuda":
        raise TrainingError("config dist_backend is 'nccl' but this process trains on the CPU")
    return preference


def _pick_device(preference: str, local_rank: int) -> torch.device:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = choose_gpu(preference, count, local_rank)
    if index is None:
        return torch.device("cpu")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def _round_store(timeout: datetime.timedelta) -> dist.Store:
    """torchrun's store with keys of this restart round only.

    An elastic torchrun keeps one store for all its rounds, and the process group's keys name
    no round: a restarted process that looks before its peers have written can read the dead
    round's Gloo or NCCL addresses and wait on processes that no longer exist (connection
    refused, retried until the timeout)."""
    store, _, _ = next(dist.rendezvous("env://", timeout=timeout))
    return dist.PrefixStore(f"amt-round-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/", store)


def init_world(preference: str = "auto", timeout_s: float = 600.0,
               backend: str = "auto") -> World:
    """Join the process group torchrun describes (NCCL on GPUs, Gloo on CPU), if any.

    `timeout_s` bounds every wait on the other processes (joining included), so a process
    that died turns into an error on the others instead of a silent hang."""
    present = [v for v in TORCHRUN_VARS if v in os.environ]
    if present and len(present) != len(TORCHRUN_VARS):
        raise TrainingError(f"incomplete torchrun environment: {', '.join(present)} set but not "
                            f"{', '.join(v for v in TORCHRUN_VARS if v not in present)}")
    if not present:
        device = _pick_device(preference, 0)
        return World(0, 0, 1, device, choose_backend(backend, device))
    rank, local_rank, size = (int(os.environ[v]) for v in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    device = _pick_device(preference, local_rank)
    backend = choose_backend(backend, device)
    if not dist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" else {}
        timeout = datetime.timedelta(seconds=timeout_s)
        try:
            dist.init_process_group(backend=backend, store=_round_store(timeout), rank=rank,
                                    world_size=size, timeout=timeout, **kwargs)
        except (RuntimeError, ValueError) as e:  # DistStoreError and timeouts are RuntimeErrors
            raise TrainingError(f"rank {rank} could not join the {size} training processes "
                                f"within dist_timeout_s = {timeout_s:g} s ({backend} at "
                                f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}): "
                                f"{str(e).strip().splitlines()[0][:200]}") from None
    return World(rank, local_rank, size, device, backend, local_size)


def close_world(world: World) -> None:
    if world.distributed:
        dist.destroy_process_group()


def collective_device(world: World) -> torch.device:
    """Where the process group's collectives take tensors: NCCL only GPU ones."""
    return world.device if world.backend == "nccl" else torch.device("cpu")


def _on_collective_device(x: torch.Tensor, world: World,
                          op: Callable[[torch.Tensor], Any]) -> torch.Tensor:
    """Runs the in-place collective `op` on x moved to the backend's device, writes the
    result back into x and returns x."""
    y = x.to(collective_device(world))
    op(y)
    if y is not x:
        x.copy_(y)
    return x


def all_reduce_sum(x: torch.Tensor, world: World) -> torch.Tensor:
    """Sum over processes, in place (x may live on any device); returns x."""
    if world.distributed and world.size > 1:
        _on_collective_device(x, world, lambda y: dist.all_reduce(y, op=dist.ReduceOp.SUM))
    return x


def all_gather_objects(obj: Any, world: World) -> List[Any]:
    """One picklable object from every process, in rank order."""
    if not (world.distributed and world.size > 1):
        return [obj]
    out: List[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, world: World) -> Any:
    """Rank 0's `obj` on every process."""
    if not (world.distributed and world.size > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed and world.size > 1:
        dist.barrier()
