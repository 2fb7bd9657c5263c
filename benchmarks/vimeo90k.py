"""Vimeo90K triplet test set (3,782 samples, 448x256): im1 and im3 in, im2 is the truth.

    python benchmarks/vimeo90k.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/vimeo_triplet
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.evaluation.core import Protocol
from datasets.sources import FileSource, Spec, read_lines, require

LAYOUT = ("the Vimeo90K triplet layout: ROOT/tri_testlist.txt (lines like 00001/0001) and "
          "ROOT/sequences/<5-digit>/<4-digit>/im1.png, im2.png, im3.png")


def vimeo_source(root: str, list_name: str = "tri_testlist.txt") -> FileSource:
    require(root, LAYOUT)
    ids = read_lines(require(os.path.join(root, list_name), LAYOUT))
    seq = require(os.path.join(root, "sequences"), LAYOUT)
    specs = [Spec(i, os.path.join(seq, i, "im1.png"), os.path.join(seq, i, "im3.png"),
                  [(0.5, os.path.join(seq, i, "im2.png"))]) for i in ids]
    return FileSource.from_specs("Vimeo90K", root, specs)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", default="tri_testlist.txt", help="sample list under the root")


def runs(args: argparse.Namespace) -> List[Run]:
    return [Run("Vimeo90K", vimeo_source(args.root, args.list), Protocol(pad_divisor=16))]


BENCHMARK = Benchmark("vimeo90k", __doc__, "data/vimeo_triplet", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
