"""X4K1000FPS test set (15 scenes of 33 frames, 4096x2160 at 1000 fps): frames 0 and 32 in,
frames 4, 8, ..., 28 the truths at t = k/32; at 4K, or at 2K (frames resized to 2048x1080
with area interpolation)."""
from __future__ import annotations

import os

from datasets.common import list_dirs, require
from datasets.sources import SIZE_2K, FileSource, Spec, resize_area
from utils.names import X4K_RESOLUTIONS

SPAN, STEP = 32, 4
RESOLUTIONS = X4K_RESOLUTIONS
LAYOUT = "the X4K1000FPS layout: ROOT/test/<type>/<scene>/0000.png ... 0032.png"


def x4k_source(root: str, resolution: str) -> FileSource:
    test = os.path.join(require(root, LAYOUT), "test")
    specs = []
    for kind in list_dirs(test, LAYOUT):
        for scene in list_dirs(os.path.join(test, kind), LAYOUT):
            frame = os.path.join(test, kind, scene, "{:04d}.png").format
            specs.append(Spec(f"{kind}/{scene}", frame(0), frame(SPAN),
                              [(k / SPAN, frame(k)) for k in range(STEP, SPAN, STEP)]))
    op = resize_area(SIZE_2K) if resolution == "2k" else None
    return FileSource.from_specs(f"X4K1000FPS-{resolution.upper()}", root, specs, frame_op=op)
