"""Training throughput: samples/s of one optimisation step (forward, losses, backward, AdamW),
and the config's training data's cost per sample.

Synthetic batches of the config's crop size are made once, so the step figure is the model's
cost alone. The data figure is the trainer's own loader (data set, per-process batch, worker
count, seeding) read on its own: when its ms/sample is above the step's, the GPU waits on the
data. Prints the median step time over --steps after --warmup steps.

    python benchmarks/training_speed.py -c cfgs/AMT-S.yaml                     # CPU or GPU
    python benchmarks/training_speed.py -c cfgs/AMT-S.yaml --device cuda --amp bf16
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, List, Optional, Tuple

from utils.devices import DEFAULT_DEVICE
from utils.names import AMP_MODES

if TYPE_CHECKING:
    import torch


def batch_of(n: int, size: int, device: torch.device) -> dict:
    import torch
    g = torch.Generator().manual_seed(0)
    img = lambda: torch.rand(n, 3, size, size, generator=g)  # noqa: E731
    b = {"img0": img(), "imgt": img(), "img1": img(), "embt": torch.full((n, 1, 1, 1), 0.5),
         "flow": torch.randn(n, 4, size, size, generator=g)}
    return {k: v.to(device) for k, v in b.items()}


def step_times(cfg: dict, batch: int, size: int, device: torch.device, amp: str,
               warmup: int, steps: int) -> List[float]:
    import torch
    from losses import build_losses, compute_losses
    from networks import build_model
    from utils.inference import DTYPES
    model = build_model(cfg["network"]).to(device).train()
    losses = build_losses(cfg["losses"])
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    data = batch_of(batch, size, device)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        ctx = torch.autocast(device.type, dtype=DTYPES[amp]) if amp != "none" else nullcontext()
        with ctx:
            out = model(data["img0"], data["img1"], data["embt"])
        loss, _ = compute_losses(losses, {**data, **out})
        optim.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def data_ms_per_sample(cfg: dict, nproc: int, batches: int) -> Tuple[float, int, int, int]:
    """Milliseconds per training sample of one process's loader, as the trainer builds it
    for `nproc` processes on this machine: (ms/sample, samples timed, batch, workers). The
    first batch (worker start-up) is not timed."""
    import torch
    from trainers.data import SeededSamples, build_dataset, close_workers, train_loader
    from trainers.distributed import World
    from trainers.settings import TrainingError, auto_workers, per_rank, read_settings
    s = read_settings(cfg)
    batch = per_rank(s.batch_size, nproc)
    workers = auto_workers(os.cpu_count(), nproc) if s.num_workers is None else s.num_workers
    dataset = SeededSamples(build_dataset(cfg["data"]["train"], "train"), s.seed)
    loader = train_loader(dataset, World(0, 0, 1, torch.device("cpu")), batch, workers,
                          torch.Generator().manual_seed(s.seed))
    loader.sampler.set_position(0, 0)
    it = iter(loader)
    next(it)
    start, timed = time.perf_counter(), 0
    for _ in range(batches):
        try:
            next(it)
        except StopIteration:
            break
        timed += batch
    close_workers(loader)
    if not timed:
        raise TrainingError("the training set has a single batch: nothing to time after "
                            "the workers' start-up")
    return 1000 * (time.perf_counter() - start) / timed, timed, batch, workers


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="cfgs/AMT-S.yaml")
    p.add_argument("--batch", type=int, default=4, help="samples per step (default 4)")
    p.add_argument("--size", type=int, default=224, help="crop side (default 224)")
    p.add_argument("--device", default=DEFAULT_DEVICE,
                   help="auto (CUDA when available, else the CPU; the default), cpu, cuda, cuda:N")
    p.add_argument("--amp", choices=AMP_MODES, default="none")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--data-batches", type=int, default=20,
                   help="training batches to time the data loading over (0: skip)")
    p.add_argument("--nproc", type=int, default=1,
                   help="training processes per machine the loader is sized for (default 1)")
    args = p.parse_args(argv)
    # after parsing, so that --help answers at once
    import torch
    from utils.config import ConfigError, load_config
    from utils.devices import check_device
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = torch.device(check_device(args.device))
        cfg = load_config(args.config)
        times = step_times(cfg, args.batch, args.size, device, args.amp, args.warmup, args.steps)
    except (ConfigError, ValueError, RuntimeError) as e:  # DeviceError is a ValueError
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    med = statistics.median(times)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu, {torch.get_num_threads()} threads"
    print(f"{cfg['network']['name']} {args.size}x{args.size} batch {args.batch} amp {args.amp} "
          f"on {where}: median step {med:.3f} s over {len(times)} steps, "
          f"{args.batch / med:.2f} samples/s ({1000 * med / args.batch:.2f} ms/sample)")
    if args.data_batches > 0:
        print(data_line(cfg, args.nproc, args.data_batches))
    return 0


def data_line(cfg: dict, nproc: int, batches: int) -> str:
    """The data figure, or why it could not be measured (the step figure stands either way)."""
    from datasets import DatasetError
    from trainers.settings import TrainingError
    from utils.images import ImageReadError
    try:
        ms, samples, batch, workers = data_ms_per_sample(cfg, nproc, batches)
    except (TrainingError, DatasetError, ImageReadError) as e:
        return f"data loading not measured: {str(e).splitlines()[0]}"
    return (f"data loading ({cfg['data']['train'].get('name')}, batch {batch} per process, "
            f"{workers} workers): {ms:.2f} ms/sample over {samples} samples")


if __name__ == "__main__":
    raise SystemExit(main())
