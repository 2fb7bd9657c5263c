"""Parameters, latency and peak memory of an AMT model at one resolution, per correlation mode.

    python benchmarks/speed_parameters.py -c cfgs/AMT-S.yaml [--size 1080x1920] [--corr-mode all]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Dict, List, Optional

from benchmarks.cli import add_execution_arguments, hw_size, timing_outcome

if TYPE_CHECKING:  # imported where used, after parsing: --help answers at once
    import torch
    from utils.inference import Interpolator

OUT_OF_MEMORY_HINT = "try --scale 0.5, --dtype fp16 or a smaller --size"


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", help="config whose network section builds the model")
    p.add_argument("-p", "--checkpoint", help="weights (optional; speed does not depend on them)")
    p.add_argument("--variant", default=None, help="AMT-S | AMT-L | AMT-G when no config is given")
    p.add_argument("--size", default="256x448", help="HxW of the frame pair (default 256x448)")
    p.add_argument("--corr-mode", default="all", choices=["auto", "dense", "ondemand", "tiled", "all"])
    add_execution_arguments(p)
    p.add_argument("--scale", type=float, default=1.0,
                   help="scale_factor: the network runs at this fraction of the size (e.g. 0.5)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", help="also write the results to this JSON file")
    return p.parse_args(argv)


def measure(ip: Interpolator, size: tuple, repeats: int, warmup: int) -> Dict[str, float]:
    """Median latency and peak memory of interpolating one random pair of the given size."""
    import torch
    from utils.memory import peak_bytes, reset_peak, sync
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(1, 3, *size, generator=g).to(ip.device)
    x1 = torch.rand(1, 3, *size, generator=g).to(ip.device)
    for _ in range(warmup):
        ip.interpolate(x0, x1, 0.5)
    sync(ip.device)
    reset_peak(ip.device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ip.interpolate(x0, x1, 0.5)
        sync(ip.device)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times),
            "peak_mem_gb": peak_bytes(ip.device) / 1e9, "repeats": repeats}


def run(args: argparse.Namespace) -> Dict[str, object]:
    import torch
    from utils.devices import check_device
    from utils.inference import DTYPES, Interpolator, load_model
    device = torch.device(check_device(args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.config or args.checkpoint or args.variant):
        args.variant = "AMT-S"
    model = load_model(args.checkpoint, args.config, args.variant, device)
    h, w = hw_size(args.size, "--size")
    modes = ["auto", "dense", "ondemand", "tiled"] if args.corr_mode == "all" else [args.corr_mode]
    rows = []
    for mode in modes:
        if len(modes) > 1 and device.type == "cpu":
            # A process's resident peak carries the last mode's heap: measure each afresh.
            rows.append(_measure_in_subprocess(args, mode))
            continue
        model.corr_mode = mode
        ip = Interpolator(model, device, DTYPES[args.dtype], scale_factor=args.scale,
                          tf32=args.tf32, compile=args.compile)
        rows.append({"corr_mode": mode, **measure(ip, (h, w), args.repeats, args.warmup)})
    return {"model": model.variant, "params": sum(p.numel() for p in model.parameters()),
            "size": [h, w], "scale": args.scale, "device": str(device), "dtype": args.dtype,
            "tf32": args.tf32, "compile": args.compile,
            "threads": torch.get_num_threads(), "machine": _machine(device), "results": rows}


def _measure_in_subprocess(args: argparse.Namespace, mode: str) -> Dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "row.json")
        argv = [sys.executable, "-m", "benchmarks.speed_parameters", "--corr-mode", mode,
                "--json", out, "--size", args.size, "--device", args.device, "--dtype", args.dtype,
                "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                "--scale", str(args.scale)]
        argv += [flag for flag, on in (("--tf32", args.tf32), ("--compile", args.compile)) if on]
        for flag, value in (("-c", args.config), ("-p", args.checkpoint),
                            ("--variant", args.variant), ("--threads", args.threads)):
            if value:
                argv += [flag, str(value)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)["results"][0]


def _machine(device: torch.device) -> str:
    import torch
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def format_table(report: Dict[str, object]) -> str:
    h, w = report["size"]
    lines = [f"{report['model']}: {report['params']:,} parameters; {h}x{w} (scale_factor "
             f"{report['scale']}), {report['device']} ({report['machine']}), {report['dtype']}"
             f"{', tf32' if report['tf32'] else ''}{', compiled' if report['compile'] else ''}, "
             f"{report['threads']} threads",
             "| corr mode | median latency (s) | min (s) | peak memory (GB) |",
             "|---|---|---|---|"]
    for r in report["results"]:
        lines.append(f"| {r['corr_mode']} | {r['median_s']:.3f} | {r['min_s']:.3f} "
                     f"| {r['peak_mem_gb']:.2f} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return timing_outcome(lambda: run(args), format_table, args.json, OUT_OF_MEMORY_HINT)


if __name__ == "__main__":
    raise SystemExit(main())
