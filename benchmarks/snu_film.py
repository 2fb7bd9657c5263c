"""SNU-FILM (310 samples per split, up to 1280x720): each line of test-<split>.txt names the
first input, the truth and the second input; frames are padded to a multiple of 20 and the
model runs at scale_factor 0.8.

    python benchmarks/snu_film.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -r data/SNU-FILM
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.evaluation.core import Protocol
from datasets.sources import FileSource, LayoutError, Spec, read_lines, require

SPLITS = ("easy", "medium", "hard", "extreme")
LAYOUT = ("the SNU-FILM layout: ROOT/test-easy.txt, test-medium.txt, test-hard.txt, "
          "test-extreme.txt (lines of three space-separated paths; the last three components "
          "of each, e.g. GOPRO_test/GOPR0384_11_00/000001.png, are found under ROOT or ROOT/test)")


def _image_base(root: str, first_parts: List[str]) -> str:
    """The list files keep the authors' absolute paths; the frames sit under ROOT (or under
    ROOT/test, as the archive unpacks)."""
    for base in (root, os.path.join(root, "test")):
        if os.path.isdir(os.path.join(base, first_parts[0])):
            return base
    return root


def snu_film_source(root: str, split: str) -> FileSource:
    require(root, LAYOUT)
    listing = require(os.path.join(root, f"test-{split}.txt"), LAYOUT)
    specs, base = [], None
    for number, line in enumerate(read_lines(listing), 1):
        paths = line.replace("\\", "/").split()
        if len(paths) != 3:
            raise LayoutError(f"{listing}:{number}: expected three paths, got {len(paths)}")
        parts = [p.split("/")[-3:] for p in paths]
        base = base or _image_base(root, parts[0])
        in0, truth, in1 = (os.path.join(base, *p) for p in parts)
        specs.append(Spec("/".join(parts[1]), in0, in1, [(0.5, truth)]))
    return FileSource.from_specs(f"SNU-FILM {split}", root, specs)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="all", choices=SPLITS + ("all",))


def runs(args: argparse.Namespace) -> List[Run]:
    splits = SPLITS if args.split == "all" else (args.split,)
    return [Run(f"SNU-FILM {s}", snu_film_source(args.root, s),
                Protocol(pad_divisor=20, scale_factor=0.8)) for s in splits]


BENCHMARK = Benchmark("snu_film", __doc__, "data/SNU-FILM", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
