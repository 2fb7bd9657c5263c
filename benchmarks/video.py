"""Any video file or folder of frames as a test set, to score on your own footage.

2x (default): frame i is predicted from frames i-1 and i+1, for every frame that has both.
--factor N: windows of N+1 frames (stride N): the window's ends in, frame k at t = k/N.
--start/--end restrict everything, inputs included, to a frame range (both inclusive).

    python benchmarks/video.py -r clip.mp4 -p pretrained/amt-s.pth
    python benchmarks/video.py -r frames/ --factor 8 --baseline dis
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run, hw_size


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--factor", type=int, default=2, help="2 (frame i from i±1) or N (windows)")
    p.add_argument("--stride", type=int, help="window stride (default 1 for 2x, else the factor)")
    p.add_argument("--start", type=int, default=0, help="first frame index (inclusive)")
    p.add_argument("--end", type=int, help="last frame index (inclusive)")
    p.add_argument("--crop", help="score the centre HxW crop, e.g. 512x512")


def _crop(text: Optional[str]):
    from utils.evaluation.core import EvaluationError
    if not text:
        return None
    try:
        return hw_size(text, "--crop")
    except ValueError as e:
        raise EvaluationError(str(e)) from None


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.video_folder import video_source
    from utils.evaluation.core import Protocol
    source = video_source(args.root, args.factor, args.start, args.end, args.stride)
    span = "" if args.start == 0 and args.end is None else f" [{args.start}..{args.end or 'end'}]"
    stride = f" stride {args.stride}" if args.stride else ""
    return [Run(f"{source.name}{span} {args.factor}x{stride}", source,
                Protocol(pad_divisor=16, crop=_crop(args.crop)))]


BENCHMARK = Benchmark("video", __doc__, None, runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
