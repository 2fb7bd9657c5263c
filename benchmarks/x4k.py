"""X4K1000FPS test set (15 scenes of 33 frames, 4096x2160 at 1000 fps): frames 0 and 32 in,
frames 4, 8, ..., 28 the truths at t = k/32, at 4K (model at scale_factor 0.25, padding 64)
and at 2K (frames resized to 2048x1080 with area interpolation, scale_factor 0.5, padding 32).
Not in the AMT paper; the scale factors are this project's choice.

    python benchmarks/x4k.py -c cfgs/AMT-S_gopro.yaml -p pretrained/gopro_amt-s.pth -r data/X4K1000FPS
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.evaluation.core import Protocol
from datasets.sources import FileSource, Spec, list_dirs, require, resize_area

SPAN, STEP = 32, 4
SIZE_2K = (2048, 1080)  # (W, H)
LAYOUT = "the X4K1000FPS layout: ROOT/test/<type>/<scene>/0000.png ... 0032.png"
PROTOCOLS = {"4k": Protocol(pad_divisor=64, scale_factor=0.25),
             "2k": Protocol(pad_divisor=32, scale_factor=0.5)}


def x4k_source(root: str, resolution: str) -> FileSource:
    require(root, LAYOUT)
    test = require(os.path.join(root, "test"), LAYOUT)
    specs = []
    for kind in list_dirs(test):
        for scene in list_dirs(os.path.join(test, kind)):
            folder = os.path.join(test, kind, scene)
            frame = os.path.join(folder, "{:04d}.png").format
            specs.append(Spec(f"{kind}/{scene}", frame(0), frame(SPAN),
                              [(k / SPAN, frame(k)) for k in range(STEP, SPAN, STEP)]))
    op = resize_area(SIZE_2K) if resolution == "2k" else None
    return FileSource.from_specs(f"X4K1000FPS-{resolution.upper()}", root, specs, frame_op=op)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resolution", default="both", choices=["4k", "2k", "both"])


def runs(args: argparse.Namespace) -> List[Run]:
    resolutions = ("4k", "2k") if args.resolution == "both" else (args.resolution,)
    return [Run(f"X4K1000FPS-{r.upper()}", x4k_source(args.root, r), PROTOCOLS[r])
            for r in resolutions]


BENCHMARK = Benchmark("x4k", __doc__, "data/X4K1000FPS", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
