"""UCF101 test set of the DVF split (379 samples, 256x256): frame_00 and frame_02 in,
frame_01_gt is the truth.

    python benchmarks/ucf101.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/ucf101
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.evaluation.core import Protocol
from datasets.sources import FileSource, Spec, list_dirs, require

LAYOUT = "the UCF101 (DVF) layout: ROOT/<id>/frame_00.png, frame_01_gt.png, frame_02.png"


def ucf101_source(root: str) -> FileSource:
    require(root, LAYOUT)
    specs = [Spec(i, os.path.join(root, i, "frame_00.png"), os.path.join(root, i, "frame_02.png"),
                  [(0.5, os.path.join(root, i, "frame_01_gt.png"))]) for i in list_dirs(root)]
    return FileSource.from_specs("UCF101", root, specs)


def runs(args: argparse.Namespace) -> List[Run]:
    return [Run("UCF101", ucf101_source(args.root), Protocol(pad_divisor=16))]


BENCHMARK = Benchmark("ucf101", __doc__, "data/ucf101", runs)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
