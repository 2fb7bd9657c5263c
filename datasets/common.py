"""Shared pieces of the data sets: errors, layout checks, list files, folder listings, the
sample dict, per-sample RNG."""
from __future__ import annotations

import math
import numbers
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from utils.images import ImageReadError, natural_key, read_rgb

MIN_CROP = 128  # the network refuses smaller training frames (its coarsest level collapses)
CROP_MULTIPLE = 16  # and other sizes fail part way: its feature pyramids stop lining up


class DatasetError(ValueError):
    """A data set root that is missing or not in the expected layout, or a file of it that
    cannot be read; str() is one line."""

    def __str__(self) -> str:
        text = super().__str__()
        # A DataLoader worker's error is re-raised in the main process as
        # DatasetError("Caught DatasetError in DataLoader worker process N.\nOriginal
        # Traceback ...\n<module>.DatasetError: <message>"): the message is the last line.
        if text.startswith("Caught ") and "\nOriginal Traceback" in text:
            last = text.rstrip().splitlines()[-1]
            return last.split(": ", 1)[1] if ": " in last else last
        return text


def probability(value: Any, name: str) -> float:
    """`value` as a float in [0, 1], or a one-line DatasetError naming `name`."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = math.nan
    if not 0.0 <= p <= 1.0:
        raise DatasetError(f"{name} must be in [0, 1], got {value!r}")
    return p


class LayoutError(DatasetError):
    """A data set root that is missing, in another layout, or incomplete."""


_KINDS = {"folder": os.path.isdir, "file": os.path.isfile, "path": os.path.exists}


def require(path: str, layout: str, kind: str = "folder") -> str:
    """`path` if it is there as a `kind` ('folder', 'file' or 'path': either), else an error
    naming it and the layout expected."""
    if not _KINDS[kind](path):
        raise LayoutError(f"data set {kind} not found: {path} (expected {layout})")
    return path


def read_lines(path: str, layout: str) -> List[str]:
    """The non-blank lines of a list file, stripped; an error if it is absent or lists nothing."""
    require(path, layout, "file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise LayoutError(f"cannot read list file {path}: {e}") from None
    if not lines:
        raise LayoutError(f"{path} lists no samples (expected {layout})")
    return lines


def list_dirs(folder: str, layout: str) -> List[str]:
    """Sub-folder names of `folder` in natural order (so every file system lists them alike);
    an error if there are none."""
    names = sorted((n for n in os.listdir(require(folder, layout))
                    if os.path.isdir(os.path.join(folder, n))), key=natural_key)
    if not names:
        raise LayoutError(f"{folder} has no sub-folders (expected {layout})")
    return names


def check_crop(crop_size: Any) -> Tuple[int, int]:
    """`crop_size` as (height, width), or a DatasetError when the network cannot train on it."""
    ok = (isinstance(crop_size, Sequence) and not isinstance(crop_size, str)
          and len(crop_size) == 2
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in crop_size))
    if not ok:
        raise DatasetError(f"crop_size must be two whole numbers [height, width], got {crop_size!r}")
    h, w = int(crop_size[0]), int(crop_size[1])
    if min(h, w) < MIN_CROP:
        raise DatasetError(f"crop_size {[h, w]}: training crops must be at least "
                           f"{MIN_CROP}x{MIN_CROP}, the smallest the network trains on")
    if h % CROP_MULTIPLE or w % CROP_MULTIPLE:
        raise DatasetError(f"crop_size {[h, w]}: height and width must be multiples of "
                           f"{CROP_MULTIPLE} (e.g. {[h - h % CROP_MULTIPLE, w - w % CROP_MULTIPLE]})")
    return h, w


def read_frame(path: str) -> np.ndarray:
    """read_rgb with a DatasetError, which train.py reports in one line also from a loader
    worker."""
    try:
        return read_rgb(path)
    except ImageReadError as e:
        raise DatasetError(str(e)) from None


def sample_rng() -> np.random.Generator:
    """A NumPy generator drawn from torch's RNG, so torch seeding (manual_seed, DataLoader
    workers, the trainer's per-sample seeds) makes every sample reproducible."""
    return np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,)).item()))


def to_sample(frames: Sequence[np.ndarray], t: float, flow: Optional[np.ndarray] = None,
              name: Optional[str] = None) -> Dict[str, object]:
    """[img0, imgt, img1] (H, W, 3) uint8 or float in [0, 1] -> the sample dict of tensors."""
    def chw(x: np.ndarray) -> torch.Tensor:
        x = np.ascontiguousarray(x)
        x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32)
        return torch.from_numpy(x).permute(2, 0, 1).contiguous()

    img0, imgt, img1 = frames
    out: Dict[str, object] = {"img0": chw(img0), "imgt": chw(imgt), "img1": chw(img1),
                              "embt": torch.full((1, 1, 1), float(t))}
    if flow is not None:
        out["flow"] = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)).permute(2, 0, 1)
    if name is not None:
        out["name"] = name
    return out
