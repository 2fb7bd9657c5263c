"""The speed table: the dense fp32 path (the published algorithm), the default fp32 path, bf16
and the ONNX runtimes, side by side on the same real frames at several sizes.

    python benchmarks/backend_speed.py --threads 2                      # 256x448, 720p, 1080p
    python benchmarks/backend_speed.py --quick                          # 256x448, 2 repeats
    python benchmarks/backend_speed.py --backends onnxruntime,openvino  # and the ONNX rows

Rows run in alternation (dense, default, bf16, dense, ...); medians, ratios to the dense fp32
row, peak memory, and each row's distance from the dense output. The frames are the first two
of demos/samples/bikes.mp4 (or --frames VIDEO) resized to each size.
"""
from __future__ import annotations

import argparse
import os
import platform
from typing import Dict, List, Optional

from benchmarks.cli import hw_size, timing_outcome
from utils.cli_options import add_device

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "demos", "samples", "bikes.mp4")
SIZES = "256x448,720x1280,1080x1920"


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", help="config whose network section builds the model")
    p.add_argument("-p", "--checkpoint", help="weights (default: the bundled checkpoint)")
    p.add_argument("--variant", help="AMT-S | AMT-L | AMT-G with random weights")
    p.add_argument("--sizes", help=f"comma-separated HxW sizes (default {SIZES}; --quick: 256x448)")
    p.add_argument("--frames", default=SAMPLE, help="video whose first two frames are used")
    add_device(p)
    p.add_argument("--repeats", type=int, default=None, help="timed runs per row (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per row (at least 1)")
    p.add_argument("--quick", action="store_true", help="256x448 only, 2 repeats")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for this run (default: torch's, one per core)")
    p.add_argument("--no-bf16", action="store_true", help="leave out the bf16 row")
    p.add_argument("--compile", action="store_true", help="add a torch.compile row (slow start)")
    p.add_argument("--backends", default="",
                   help="comma-separated ONNX runtimes to add as rows: onnxruntime, openvino "
                        "(CPU; the model is exported once into the ONNX cache, docs/onnx.md)")
    p.add_argument("--json", help="also write the report to this JSON file")
    return p.parse_args(argv)


def _read_pair(path: str):
    """The video's first two frames as (1, 3, H, W) floats, through the project's reader."""
    import itertools
    from utils.images import to_tensor
    from utils.video_io import open_source, read_frames
    frames = [to_tensor(f[..., :3]) for f in
              itertools.islice(read_frames(open_source([path])), 2)]
    if len(frames) < 2:
        raise ValueError(f"{path}: could not read two frames")
    return frames


def run(args: argparse.Namespace) -> Dict[str, object]:
    import torch
    from utils.backend_speed import backend_rows, frame_pair, measure_rows, torch_rows
    from utils.devices import check_device
    from utils.inference import load_model
    from utils.runtimes import check_backend

    sizes = [hw_size(part, "--sizes")
             for part in (args.sizes or ("256x448" if args.quick else SIZES)).split(",")]
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 3)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    # the ONNX rows run on the CPU: with them, 'auto' puts the torch rows there too
    device = torch.device(check_device(args.device, backend=next(iter(backends), "torch")))
    for backend in backends:
        check_backend(backend, device=device.type)
    model = load_model(args.checkpoint, args.config, args.variant, device)
    frames = _read_pair(args.frames)
    rows = torch_rows(model, device, bf16=not args.no_bf16, compiled=args.compile)
    rows += backend_rows(model, backends, args.threads)
    sections = []
    for size in sizes:
        x0, x1 = frame_pair(frames, size, device)
        sections.append({"size": list(size),
                         "results": measure_rows(rows, x0, x1, repeats, args.warmup, device)})
    return {"model": model.variant, "checkpoint": getattr(model, "checkpoint", None),
            "frames": args.frames, "device": str(device), "threads": torch.get_num_threads(),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__, "repeats": repeats, "warmup": args.warmup,
            "sections": sections}


def _table(report: Dict[str, object]) -> str:
    from utils.backend_speed import format_table
    return (f"{report['model']} ({report['checkpoint'] or 'random weights'}), {report['device']} "
            f"({report['machine']}), {report['threads']} threads, torch {report['torch']}, "
            f"{report['repeats']} alternating runs per row\n" + format_table(report["sections"]))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return timing_outcome(lambda: run(args), _table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
