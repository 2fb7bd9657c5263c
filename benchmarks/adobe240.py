"""Adobe240 8x: the GoPro protocol (windows of 9 frames with stride 8, frames 0 and 8 in,
frame k at t = k/8, centre 512x512 crop) on every 10th video. The AMT code took every 10th
video of an unsorted directory listing, which differs between file systems; here the videos
are sorted by name first (reports say so).

    python benchmarks/adobe240.py -c cfgs/AMT-S_gopro.yaml -p pretrained/gopro_amt-s.pth -r data/adobe240
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from benchmarks.gopro import add_crop_argument, crop_label, protocol_8x


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--every", type=int, default=10, help="take every N-th sorted video (default 10)")
    add_crop_argument(p)


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.adobe240 import adobe240_source
    return [Run(f"Adobe240 8x ({crop_label(args)})", adobe240_source(args.root, args.every),
                protocol_8x(args))]


BENCHMARK = Benchmark("adobe240", __doc__, "data/adobe240", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
