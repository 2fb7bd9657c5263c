"""Data loading for training: reproducible per sample, split across processes, resumable
mid-epoch.

Every sample's augmentation is drawn from RNGs seeded by (run seed, epoch, index), so a
sample looks the same whichever process or loader worker makes it, and a resumed run sees
exactly the batches the interrupted one would have seen. The sampler hands the epoch to the
data set with every index, so loader workers may live across epochs (persistent_workers).
"""
from __future__ import annotations

import itertools
import random
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from trainers.distributed import World
from trainers.rng import sample_seed
from trainers.settings import TrainingError
from trainers.stopping import ignore_stop_signals


class SeededSamples(Dataset):
    """Wraps a data set so that item i of epoch e is drawn with the global RNGs (python,
    NumPy, torch) seeded from (seed, e, i); the caller's RNG states are left as they were."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Union[int, Tuple[int, int]]) -> Dict[str, Any]:
        """`key`: an index (of the current `epoch`) or an (epoch, index) pair."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        s = sample_seed(self.seed, epoch, index)
        py, npy = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                random.seed(s)
                np.random.seed(s)
                torch.manual_seed(s)
                return self.dataset[index]
        finally:
            random.setstate(py)
            np.random.set_state(npy)


class ResumableSampler(DistributedSampler):
    """DistributedSampler (shuffled by seed + epoch, drop_last) that can start an epoch at
    a given position of this process's share."""

    def __init__(self, dataset: Dataset, world: World, seed: int) -> None:
        super().__init__(dataset, num_replicas=world.size, rank=world.rank, shuffle=True,
                         seed=seed, drop_last=True)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Iterate epoch `epoch` from this process's `start`-th sample on."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        """(epoch, index) pairs: a worker started in an earlier epoch still draws this one's."""
        epoch = self.epoch
        return ((epoch, i) for i in itertools.islice(super().__iter__(), self.start, None))

    def __len__(self) -> int:
        return self.num_samples - self.start


def build_dataset(section: Mapping[str, Any], what: str) -> Dataset:
    """A data set from a config section {name, params} via the datasets registry."""
    from datasets import DATASETS  # imported here: the data sets pull in optional video readers
    from utils.registry import build_from_cfg
    try:
        dataset = build_from_cfg(section, DATASETS)
    except KeyError as e:
        raise TrainingError(f"data.{what}: {e.args[0]}") from None
    except TypeError as e:
        raise TrainingError(f"data.{what} ({section.get('name')}): bad params: {e}") from None
    if len(dataset) == 0:
        raise TrainingError(f"data.{what} ({section.get('name')}) is empty")
    return dataset


def one_cv2_thread_per_worker(workers: int) -> None:
    """Loader workers decode and warp with one OpenCV thread each: together they already use
    the cores, and a pool per worker would oversubscribe them. Set here, in the training
    process before the workers fork (they inherit it), because OpenCV's thread pool is not
    fork-safe: a forked worker that calls cv2.setNumThreads itself deadlocks once the parent
    has used the pool. The training process then also runs OpenCV on one thread, which only
    the validation set loaded without workers notices."""
    if workers > 0:
        cv2.setNumThreads(1)


def _loader_options(world: World, workers: int) -> Dict[str, Any]:
    one_cv2_thread_per_worker(workers)
    return {"num_workers": workers, "pin_memory": world.device.type == "cuda",
            "persistent_workers": workers > 0,
            "worker_init_fn": ignore_stop_signals if workers > 0 else None}


def close_workers(loader: Optional[DataLoader]) -> None:
    """End a loader's persistent workers now, the peaceful way (they finish and exit). The
    workers ignore SIGTERM (trainers.stopping.ignore_stop_signals), so they must not be left
    to interpreter exit, where multiprocessing would terminate them with SIGTERM and wait.
    torch has no public call for it: its iterator's own shutdown, which dropping the
    iterator the loader keeps would run too, is called here directly."""
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None:
        loader._iterator = None
        shutdown = getattr(iterator, "_shutdown_workers", None)  # absent without workers
        if shutdown is not None:
            shutdown()


def train_loader(dataset: SeededSamples, world: World, batch: int, workers: int,
                 generator: torch.Generator) -> DataLoader:
    """Per-process loader of `batch` samples; its sampler is a ResumableSampler."""
    sampler = ResumableSampler(dataset, world, dataset.seed)
    if sampler.num_samples < batch:
        raise TrainingError(f"the training set ({len(dataset)} samples) is smaller than one "
                            f"global batch ({batch * world.size})")
    return DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=True,
                      generator=generator, **_loader_options(world, workers))


def val_loader(dataset: Dataset, world: World, batch: int, workers: int) -> Optional[DataLoader]:
    """This process's contiguous-stride share of the validation set (no padding, so every
    sample is scored exactly once); None when the share is empty."""
    share = Subset(dataset, range(world.rank, len(dataset), world.size))
    if len(share) == 0:
        return None
    return DataLoader(share, batch_size=batch, shuffle=False, **_loader_options(world, workers))
