"""Replicate padding to a multiple of a divisor, centred like the published padder."""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
import torch.nn.functional as F


class InputPadder:
    """Pads (…, H, W) tensors to a multiple of `divisor` and at least `min_size` per side."""

    def __init__(self, shape_hw: Tuple[int, int], divisor: int = 16, min_size: int = 0) -> None:
        h, w = int(shape_hw[0]), int(shape_hw[1])
        self.size = (h, w)
        ph = self._target(h, divisor, min_size) - h
        pw = self._target(w, divisor, min_size) - w
        self.pad_lrtb = [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]

    @staticmethod
    def _target(n: int, divisor: int, min_size: int) -> int:
        return max(math.ceil(n / divisor), math.ceil(min_size / divisor)) * divisor

    def pad(self, *tensors: torch.Tensor) -> List[torch.Tensor]:
        if not any(self.pad_lrtb):
            return list(tensors)
        return [F.pad(x, self.pad_lrtb, mode="replicate") for x in tensors]

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        left, _, top, _ = self.pad_lrtb
        h, w = self.size
        return x[..., top:top + h, left:left + w]
