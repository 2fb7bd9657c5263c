"""Middlebury "other" set with interpolation ground truth (12 sequences): frame10 and frame11
in, frame10i11 the truth; padded to a multiple of 16. Not in the AMT paper.

    python benchmarks/middlebury.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/middlebury
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.evaluation.core import Protocol
from datasets.sources import FileSource, Spec, list_dirs, require

LAYOUT = ("the Middlebury layout: ROOT/other-data/<seq>/frame10.png, frame11.png and "
          "ROOT/other-gt-interp/<seq>/frame10i11.png")


def middlebury_source(root: str) -> FileSource:
    require(root, LAYOUT)
    gt = require(os.path.join(root, "other-gt-interp"), LAYOUT)
    data = require(os.path.join(root, "other-data"), LAYOUT)
    specs = [Spec(s, os.path.join(data, s, "frame10.png"), os.path.join(data, s, "frame11.png"),
                  [(0.5, os.path.join(gt, s, "frame10i11.png"))]) for s in list_dirs(gt)]
    return FileSource.from_specs("Middlebury", root, specs)


def runs(args: argparse.Namespace) -> List[Run]:
    return [Run("Middlebury", middlebury_source(args.root), Protocol(pad_divisor=16))]


BENCHMARK = Benchmark("middlebury", __doc__, "data/middlebury", runs)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
