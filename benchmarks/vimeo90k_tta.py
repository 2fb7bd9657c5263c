"""Vimeo90K triplet test set with test-time augmentation: the mean of the prediction and the
vertically flipped prediction of vertically flipped inputs.

    python benchmarks/vimeo90k_tta.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/vimeo_triplet
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from benchmarks.vimeo90k import add_arguments


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.vimeo import vimeo_source
    from utils.evaluation.core import Protocol
    return [Run("Vimeo90K + TTA", vimeo_source(args.root, args.list),
                Protocol(pad_divisor=16, tta=True))]


BENCHMARK = Benchmark("vimeo90k_tta", __doc__, "data/vimeo_triplet", runs,
                      add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
