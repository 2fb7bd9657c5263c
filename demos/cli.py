"""Command-line glue shared by the demos: one-line errors and Ctrl-C handling."""
from __future__ import annotations

import sys
import warnings
from typing import Callable

from demos.pipeline import DemoError, RunSummary


def report(summary: RunSummary) -> None:
    state = "partial output" if summary.partial else "wrote"
    extra = [f"{summary.cuts} scene cut(s) repeated"] if summary.cuts else []
    extra += [f"{summary.copies} identical pair(s) copied"] if summary.copies else []
    extra += ["audio copied"] if summary.audio else []
    print(f"{state} {summary.output}: {summary.frames} frames at {summary.fps:g} fps"
          + (f" ({', '.join(extra)})" if extra else ""))
    print(f"weights: {summary.weights}; times: {summary.times}")
    if summary.images_dir:
        print(f"frames saved in {summary.images_dir}")
    for note in summary.notes:
        print(f"note: {note}")


def guarded(fn: Callable[[], RunSummary]) -> int:
    """Run a demo: errors become `error: ...` on stderr (exit 2), Ctrl-C exits 130."""
    warnings.simplefilter("always", UserWarning)
    warnings.formatwarning = lambda msg, *a, **k: f"note: {msg}\n"
    try:
        report(fn())
    except DemoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the partial output was closed and kept", file=sys.stderr)
        return 130
    return 0
