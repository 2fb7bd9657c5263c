"""GoPro 8x (11 test videos, 1280x720 at 240 fps): per video, sorted frames in windows of 9
with stride 8; frames 0 and 8 in, frame k the truth at t = k/8; the centre 512x512 crop as in
the AMT paper (--full-frame for whole frames).

    python benchmarks/gopro.py -c cfgs/AMT-S_gopro.yaml -p pretrained/gopro_amt-s.pth -r data/GOPRO
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, List, Optional, Sequence

from benchmarks.cli import Benchmark, Run

if TYPE_CHECKING:
    from utils.evaluation.core import Protocol


def add_crop_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--full-frame", action="store_true",
                   help="score whole frames instead of the centre 512x512 crop")


def protocol_8x(args: argparse.Namespace) -> Protocol:
    from datasets.gopro import CROP
    from utils.evaluation.core import Protocol
    return Protocol(pad_divisor=16, crop=None if args.full_frame else CROP)


def crop_label(args: argparse.Namespace) -> str:
    return "full frame" if args.full_frame else "512 crop"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="test", choices=["test", "train"])
    add_crop_argument(p)


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.gopro import gopro_source
    return [Run(f"GoPro 8x ({crop_label(args)})", gopro_source(args.root, args.split),
                protocol_8x(args))]


BENCHMARK = Benchmark("gopro", __doc__, "data/GOPRO", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
