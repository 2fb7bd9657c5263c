"""SNU-FILM (310 samples per split, up to 1280x720): each line of `test-<split>.txt` names the
first input, the truth (t = 0.5) and the second input."""
from __future__ import annotations

import os
from typing import List

from datasets.common import LayoutError, read_lines, require
from datasets.sources import FileSource, Spec
from utils.names import SNU_FILM_SPLITS

SPLITS = SNU_FILM_SPLITS
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
    listing = os.path.join(require(root, LAYOUT), f"test-{split}.txt")
    specs, base = [], None
    for number, line in enumerate(read_lines(listing, LAYOUT), 1):
        paths = line.replace("\\", "/").split()
        if len(paths) != 3:
            raise LayoutError(f"{listing}:{number}: expected three paths, got {len(paths)}")
        parts = [p.split("/")[-3:] for p in paths]
        base = base or _image_base(root, parts[0])
        in0, truth, in1 = (os.path.join(base, *p) for p in parts)
        specs.append(Spec("/".join(parts[1]), in0, in1, [(0.5, truth)]))
    return FileSource.from_specs(f"SNU-FILM {split}", root, specs)
