"""SNU-FILM (310 samples per split, up to 1280x720): each line of test-<split>.txt names the
first input, the truth and the second input; frames are padded to a multiple of 20 and the
model runs at scale_factor 0.8.

    python benchmarks/snu_film.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/SNU-FILM
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.names import SNU_FILM_SPLITS as SPLITS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="all", choices=SPLITS + ("all",))


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.snu_film import snu_film_source
    from utils.evaluation.core import Protocol
    splits = SPLITS if args.split == "all" else (args.split,)
    return [Run(f"SNU-FILM {s}", snu_film_source(args.root, s),
                Protocol(pad_divisor=20, scale_factor=0.8)) for s in splits]


BENCHMARK = Benchmark("snu_film", __doc__, "data/SNU-FILM", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
