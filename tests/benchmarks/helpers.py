"""Running a benchmark script in-process on a fixture tree and reading its reports back."""
from __future__ import annotations

import csv
import glob
import json
import os
from typing import Callable, Dict, List, Sequence


def run_script(main: Callable, argv: Sequence[str], report_dir) -> int:
    return main([*map(str, argv), "--report-dir", str(report_dir), "--no-progress"])


def records(report_dir) -> List[Dict]:
    """The per-run JSON reports, by benchmark name."""
    paths = [p for p in glob.glob(os.path.join(str(report_dir), "*.json"))
             if not os.path.basename(p).startswith("summary")]
    return sorted((json.load(open(p)) for p in paths), key=lambda r: (r["benchmark"], r["method"]))


def csv_rows(report_dir, benchmark_slug: str) -> List[Dict]:
    (path,) = glob.glob(os.path.join(str(report_dir), f"{benchmark_slug}__*.csv"))
    with open(path) as f:
        return list(csv.DictReader(f))


def score_baseline(main: Callable, root, report_dir, *extra, baseline: str = "average") -> List[Dict]:
    """Runs a script with a baseline, checks it succeeded, returns its JSON records."""
    code = run_script(main, ["-r", root, "--baseline", baseline, "--csv", *extra], report_dir)
    assert code == 0
    return records(report_dir)
