"""X4K1000FPS test set (15 scenes of 33 frames, 4096x2160 at 1000 fps): frames 0 and 32 in,
frames 4, 8, ..., 28 the truths at t = k/32, at 4K (model at scale_factor 0.25, padding 64)
and at 2K (frames resized to 2048x1080 with area interpolation, scale_factor 0.5, padding 32).
Not in the AMT paper; the scale factors are this project's choice.

    python benchmarks/x4k.py -c cfgs/AMT-S_gopro.yaml -p pretrained/gopro_amt-s.pth -r data/X4K1000FPS
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.names import X4K_RESOLUTIONS as RESOLUTIONS

# Protocol arguments per resolution; the Protocols are made in runs(), so that --help does not
# load the evaluation core
PROTOCOLS = {"4k": dict(pad_divisor=64, scale_factor=0.25),
             "2k": dict(pad_divisor=32, scale_factor=0.5)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resolution", default="both", choices=[*RESOLUTIONS, "both"])


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.x4k import x4k_source
    from utils.evaluation.core import Protocol
    resolutions = RESOLUTIONS if args.resolution == "both" else (args.resolution,)
    return [Run(f"X4K1000FPS-{r.upper()}", x4k_source(args.root, r), Protocol(**PROTOCOLS[r]))
            for r in resolutions]


BENCHMARK = Benchmark("x4k", __doc__, "data/X4K1000FPS", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
