"""Xiph 2K and 4K: the first 100 frames of 8 sequences (4096x2160); frames 2k-1 and 2k+1 in,
2k the truth, k = 1..49. "2K": frames resized to 2048x1080 (area interpolation); "4K": the
centre 2048x1080 crop. Both padded to a multiple of 32, the model at scale_factor 0.5.

    python benchmarks/xiph.py -c cfgs/AMT-G.yaml -p pretrained/amt-g.pth -r data/xiph

--from-y4m DIR first converts local DIR/<sequence>*.y4m files into the PNG folders (ffmpeg from
imageio-ffmpeg, 8-bit RGB); nothing is downloaded.
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.names import XIPH_FRAMES as FRAMES, XIPH_RESOLUTIONS as RESOLUTIONS
from utils.names import XIPH_SEQUENCES as SEQUENCES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resolution", default="both", choices=[*RESOLUTIONS, "both"])
    p.add_argument("--sequences", default=",".join(SEQUENCES), help="comma-separated subset")
    p.add_argument("--frames", type=int, default=FRAMES, help="frames per sequence (default 100)")
    p.add_argument("--from-y4m", metavar="DIR", help="first convert DIR/<sequence>*.y4m to PNGs")


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.xiph import convert_y4m, protocol_crop, xiph_source
    from utils.evaluation.core import EvaluationError, Protocol
    sequences = [s for s in args.sequences.split(",") if s]
    if args.frames < 3:
        raise EvaluationError(f"--frames must be at least 3, got {args.frames}")
    if args.from_y4m:
        convert_y4m(args.from_y4m, args.root, sequences, args.frames)
    resolutions = RESOLUTIONS if args.resolution == "both" else (args.resolution,)
    return [Run(f"Xiph-{r.upper()}", xiph_source(args.root, r, sequences, args.frames),
                Protocol(pad_divisor=32, scale_factor=0.5, crop=protocol_crop(r))) for r in resolutions]


BENCHMARK = Benchmark("xiph", __doc__, "data/xiph", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
