"""Shared pieces of the data sets: errors, the sample dict, per-sample RNG."""
from __future__ import annotations

import math
import os
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch


class DatasetError(ValueError):
    """A data set root that is missing or not in the expected layout."""


def probability(value: Any, name: str) -> float:
    """`value` as a float in [0, 1], or a one-line DatasetError naming `name`."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = math.nan
    if not 0.0 <= p <= 1.0:
        raise DatasetError(f"{name} must be in [0, 1], got {value!r}")
    return p


def require_dir(path: str, layout: str) -> str:
    if not os.path.isdir(path):
        raise DatasetError(f"data set folder not found: {path} (expected {layout})")
    return path


def require_file(path: str, layout: str) -> str:
    if not os.path.isfile(path):
        raise DatasetError(f"missing file {path} (expected {layout})")
    return path


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
