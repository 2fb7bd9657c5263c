"""Middlebury "other" set with interpolation ground truth (12 sequences): frame10 and frame11
in, frame10i11 the truth; padded to a multiple of 16. Not in the AMT paper.

    python benchmarks/middlebury.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/middlebury
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.middlebury import middlebury_source
    from utils.evaluation.core import Protocol
    return [Run("Middlebury", middlebury_source(args.root), Protocol(pad_divisor=16))]


BENCHMARK = Benchmark("middlebury", __doc__, "data/middlebury", runs)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
