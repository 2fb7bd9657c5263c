"""Vimeo90K triplet test set (3,782 samples, 448x256): im1 and im3 in, im2 is the truth.

    python benchmarks/vimeo90k.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/vimeo_triplet
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.names import VIMEO_TEST_LIST


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", default=VIMEO_TEST_LIST, help="sample list under the root")


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.vimeo import vimeo_source
    from utils.evaluation.core import Protocol
    return [Run("Vimeo90K", vimeo_source(args.root, args.list), Protocol(pad_divisor=16))]


BENCHMARK = Benchmark("vimeo90k", __doc__, "data/vimeo_triplet", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
