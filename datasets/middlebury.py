"""Middlebury "other" set with interpolation ground truth (12 sequences): frame10 and frame11
in, frame10i11 the truth at t = 0.5."""
from __future__ import annotations

import os

from datasets.common import list_dirs, require
from datasets.sources import FileSource, Spec

LAYOUT = ("the Middlebury layout: ROOT/other-data/<seq>/frame10.png, frame11.png and "
          "ROOT/other-gt-interp/<seq>/frame10i11.png")


def middlebury_source(root: str) -> FileSource:
    gt = os.path.join(require(root, LAYOUT), "other-gt-interp")
    data = require(os.path.join(root, "other-data"), LAYOUT)
    specs = [Spec(s, os.path.join(data, s, "frame10.png"), os.path.join(data, s, "frame11.png"),
                  [(0.5, os.path.join(gt, s, "frame10i11.png"))]) for s in list_dirs(gt, LAYOUT)]
    return FileSource.from_specs("Middlebury", root, specs)
