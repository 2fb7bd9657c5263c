"""The published learning-rate schedule: a cosine over all iterations, set every iteration."""
from __future__ import annotations

import math


def cosine_lr(iteration: int, total: int, lr: float, lr_min: float) -> float:
    """lr(i) = lr_min + (lr - lr_min) * 0.5 * (1 + cos(pi * i / total))."""
    return lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * iteration / max(total, 1)))
