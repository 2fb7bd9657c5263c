"""UCF101 test set of the DVF split (379 samples, 256x256): frame_00 and frame_02 in,
frame_01_gt is the truth.

    python benchmarks/ucf101.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/ucf101
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.ucf101 import ucf101_source
    from utils.evaluation.core import Protocol
    return [Run("UCF101", ucf101_source(args.root), Protocol(pad_divisor=16))]


BENCHMARK = Benchmark("ucf101", __doc__, "data/ucf101", runs)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
