"""UCF101 test set of the DVF split (379 samples, 256x256): `<id>/frame_00.png` and
`frame_02.png` in, `frame_01_gt.png` the truth at t = 0.5."""
from __future__ import annotations

import os

from datasets.common import list_dirs
from datasets.sources import FileSource, Spec

LAYOUT = "the UCF101 (DVF) layout: ROOT/<id>/frame_00.png, frame_01_gt.png, frame_02.png"


def ucf101_source(root: str) -> FileSource:
    specs = [Spec(i, os.path.join(root, i, "frame_00.png"), os.path.join(root, i, "frame_02.png"),
                  [(0.5, os.path.join(root, i, "frame_01_gt.png"))]) for i in list_dirs(root, LAYOUT)]
    return FileSource.from_specs("UCF101", root, specs)
