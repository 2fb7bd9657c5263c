"""Scene-cut detection: is a pair of consecutive frames two different shots?

The measure is structural: SSIM (Wang et al. 2004, Gaussian window of sigma 1.5 over 7x7)
between 32x32 grey thumbnails of the two frames, the best over shifts of up to 2 thumbnail
pixels (about 6% of the frame) in each direction. A thumbnail keeps the layout of a shot
(where the dark and bright masses are) and drops the detail that blur and noise change; the
shifts let a fast pan (which moves the layout) pass; a cut changes the layout everywhere.
Colour histograms alone miss cuts between shots of similar colours (two street scenes),
which is why they are not used.
"""
from __future__ import annotations

import cv2
import numpy as np

from utils.images import full_scale
from utils.names import DEFAULT_SCENE_THRESHOLD

THUMBNAIL = 32          # the side of the square grey thumbnail, pixels
MAX_SHIFT = 2           # thumbnail pixels: pans up to about 6% of the frame per frame
_WINDOW = dict(ksize=(7, 7), sigmaX=1.5)
# SSIM's stabilisers for values in [0, 1] (K1 = 0.01, K2 = 0.03 of the range)
_C1, _C2 = 0.01 ** 2, 0.03 ** 2


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3 or 4) uint8 or uint16 RGB(A) -> (32, 32) float64 grey in [0, 1]; alpha is
    ignored (a cut is in the picture, not in its transparency)."""
    # shrink first (area averaging of the integer frame), so a 4K frame costs one pass
    small = cv2.resize(frame, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(small[..., :3]).astype(np.float32) / np.float32(full_scale(frame.dtype))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two (h, w) float images in [0, 1]: 1 = identical, about 0 = unrelated."""
    mx, my = cv2.GaussianBlur(x, **_WINDOW), cv2.GaussianBlur(y, **_WINDOW)
    vx = cv2.GaussianBlur(x * x, **_WINDOW) - mx * mx
    vy = cv2.GaussianBlur(y * y, **_WINDOW) - my * my
    cov = cv2.GaussianBlur(x * y, **_WINDOW) - mx * my
    s = ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    return float(s.mean())


def cut_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How unlike two frames (H, W, C) are, in [0, 1]: 1 - the best SSIM of their thumbnails'
    overlaps over shifts of up to MAX_SHIFT pixels, an anti-correlated pair (SSIM < 0) counted
    as 1. 0 = the same picture (or the same picture moved)."""
    x, y, n = thumbnail(a), thumbnail(b), THUMBNAIL
    best = -1.0
    for dy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1):
            # the overlap of x and y moved by (dy, dx)
            best = max(best, ssim(x[max(dy, 0):n + min(dy, 0), max(dx, 0):n + min(dx, 0)],
                                  y[max(-dy, 0):n + min(-dy, 0), max(-dx, 0):n + min(-dx, 0)]))
    return 1.0 - max(best, 0.0)


def is_scene_cut(a: np.ndarray, b: np.ndarray, threshold: float = DEFAULT_SCENE_THRESHOLD) -> bool:
    """Whether frames a and b (H, W, C; same size) belong to different shots: their
    cut_distance is above `threshold` (default DEFAULT_SCENE_THRESHOLD)."""
    return cut_distance(a, b) > threshold
