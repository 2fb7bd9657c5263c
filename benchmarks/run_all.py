"""Runs several benchmarks for a model and/or the baselines and prints one table.

Each set is looked for under --data-root by its usual folder name (vimeo_triplet, ucf101,
SNU-FILM, xiph, middlebury, GOPRO, adobe240, X4K1000FPS); --root NAME=PATH overrides one.
Without --sets, every set whose folder exists is run; a set named in --sets must be there.
The table also goes to <report-dir>/summary.md and summary.json.

    python benchmarks/run_all.py -p pretrained/amt-s.pth --baseline average --baseline dis
    python benchmarks/run_all.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth --sets vimeo90k,snu_film
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, List, Optional, Sequence

from benchmarks import (adobe240, gopro, middlebury, snu_film, ucf101, video, vimeo90k,
                        vimeo90k_tta, x4k, xiph)
from benchmarks.cli import BenchmarkOptions, Job, add_common_arguments, score

BENCHMARKS = {m.BENCHMARK.key: m.BENCHMARK for m in
              (vimeo90k, vimeo90k_tta, ucf101, snu_film, xiph, middlebury, gopro, adobe240, x4k,
               video)}
DEFAULT_SETS = [k for k in BENCHMARKS if k != "video"]  # the generic set needs a path


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run_all.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", help=f"comma-separated, from: {', '.join(BENCHMARKS)}")
    p.add_argument("--data-root", default="data", help="folder holding the sets (default data)")
    p.add_argument("--root", action="append", default=[], metavar="NAME=PATH",
                   help="where one set is (repeatable)")
    add_common_arguments(p, several_baselines=True)
    return p.parse_args(argv)


def _roots(args: argparse.Namespace) -> Dict[str, str]:
    from utils.evaluation.core import EvaluationError
    roots = {k: os.path.join(args.data_root, os.path.basename(b.default_root))
             for k, b in BENCHMARKS.items() if b.default_root}
    for item in args.root:
        name, sep, path = item.partition("=")
        if not sep or name not in BENCHMARKS:
            raise EvaluationError(f"--root takes NAME=PATH with NAME one of {', '.join(BENCHMARKS)}, "
                                  f"got {item!r}")
        roots[name] = path
    return roots


def _jobs(args: argparse.Namespace) -> List[Job]:
    """Each set with its own default arguments; the common options go to the runner apart."""
    from utils.evaluation.core import EvaluationError
    roots = _roots(args)
    if args.sets:
        names = [s for s in args.sets.split(",") if s]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            raise EvaluationError(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    else:
        names = [n for n in DEFAULT_SETS if os.path.exists(roots[n])]
        if not names:
            raise EvaluationError(f"no test set found under {args.data_root} (looked for "
                                  f"{', '.join(sorted({os.path.basename(roots[n]) for n in DEFAULT_SETS}))}); "
                                  "use --root NAME=PATH or --sets")
    jobs = []
    for name in names:
        if name not in roots:
            raise EvaluationError(f"set {name} needs --root {name}=PATH")
        bench = BENCHMARKS[name]
        jobs.append((bench, bench.parser().parse_args(["-r", roots[name]])))
    return jobs


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    options = BenchmarkOptions.from_args(args)
    return score(options, lambda: _jobs(args), options.baseline,
                 with_model=options.names_model or not options.baseline, summary=True)


if __name__ == "__main__":
    raise SystemExit(main())
