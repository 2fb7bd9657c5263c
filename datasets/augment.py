"""The published training augmentations, applied alike to the frames and the 4-channel flow.

Frames are [img0, imgt, img1] as (H, W, 3) arrays; flow is (H, W, 4) with the t->0 flow in
channels 0:2 and the t->1 flow in 2:4 (u = x, v = y), or None.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

Frames = List[np.ndarray]


@dataclass(frozen=True)
class Augment:
    """Probabilities and sizes of each step, in the order they are applied.

    `downscale_p` (not in the published recipe, 0 by default) shrinks the frames by a random
    factor in [downscale_min, 1) before the crop, so that a crop of a large video frame holds
    more of the scene (its full contrast range) and slower motion in pixels.
    """
    crop: Optional[Tuple[int, int]] = (224, 224)
    downscale_p: float = 0.0
    downscale_min: float = 0.25
    upscale_p: float = 0.1
    rgb_bgr_p: float = 0.5
    vflip_p: float = 0.3
    hflip_p: float = 0.5
    transpose_p: float = 0.05
    reverse_p: float = 0.5

    def __call__(self, frames: Frames, t: float, flow: Optional[np.ndarray],
                 rng: np.random.Generator) -> Tuple[Frames, float, Optional[np.ndarray]]:
        # drawn only when enabled, so the published recipe's random stream is unchanged
        if self.downscale_p > 0 and rng.random() < self.downscale_p:
            frames, flow = downscale(frames, flow, self._scale(frames[0].shape[:2], rng))
        if rng.random() < self.upscale_p:
            frames, flow = upscale2x(frames, flow)
        if self.crop is not None:
            frames, flow = random_crop(frames, flow, self.crop, rng)
        if rng.random() < self.rgb_bgr_p:
            frames = [f[..., ::-1] for f in frames]
        if rng.random() < self.vflip_p:
            frames, flow = vflip(frames, flow)
        if rng.random() < self.hflip_p:
            frames, flow = hflip(frames, flow)
        if rng.random() < self.transpose_p:
            frames, flow = transpose(frames, flow)
        if rng.random() < self.reverse_p:
            frames, t, flow = reverse_time(frames, t, flow)
        return [np.ascontiguousarray(f) for f in frames], t, flow

    def _scale(self, size: Tuple[int, int], rng: np.random.Generator) -> float:
        """A factor in [downscale_min, 1) that leaves the frames at least as large as the crop."""
        lo = self.downscale_min
        if self.crop is not None:
            lo = max(lo, self.crop[0] / size[0], self.crop[1] / size[1])
        return float(rng.uniform(lo, 1.0)) if lo < 1.0 else 1.0


def downscale(frames: Frames, flow: Optional[np.ndarray],
              s: float) -> Tuple[Frames, Optional[np.ndarray]]:
    if s >= 1.0:
        return frames, flow
    h, w = frames[0].shape[:2]
    # ceil, so that a factor of exactly crop / size never leaves a frame a pixel short
    size = (math.ceil(w * s - 1e-6), math.ceil(h * s - 1e-6))  # cv2 takes (width, height)
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    if flow is not None:
        flow = cv2.resize(flow, size, interpolation=cv2.INTER_AREA) * np.float32(s)
    return frames, flow


def upscale2x(frames: Frames, flow: Optional[np.ndarray]) -> Tuple[Frames, Optional[np.ndarray]]:
    up = [cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR) for f in frames]
    if flow is not None:
        flow = cv2.resize(flow, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR) * 2.0
    return up, flow


def random_crop(frames: Frames, flow: Optional[np.ndarray], size: Tuple[int, int],
                rng: np.random.Generator) -> Tuple[Frames, Optional[np.ndarray]]:
    h, w = frames[0].shape[:2]
    ch, cw = size
    if h < ch or w < cw:
        raise ValueError(f"frames of {h}x{w} are smaller than the {ch}x{cw} crop")
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = [f[y:y + ch, x:x + cw] for f in frames]
    return crop, None if flow is None else flow[y:y + ch, x:x + cw]


def vflip(frames: Frames, flow: Optional[np.ndarray]) -> Tuple[Frames, Optional[np.ndarray]]:
    frames = [f[::-1] for f in frames]
    if flow is not None:
        flow = flow[::-1] * np.array([1, -1, 1, -1], np.float32)
    return frames, flow


def hflip(frames: Frames, flow: Optional[np.ndarray]) -> Tuple[Frames, Optional[np.ndarray]]:
    frames = [f[:, ::-1] for f in frames]
    if flow is not None:
        flow = flow[:, ::-1] * np.array([-1, 1, -1, 1], np.float32)
    return frames, flow


def transpose(frames: Frames, flow: Optional[np.ndarray]) -> Tuple[Frames, Optional[np.ndarray]]:
    frames = [f.transpose(1, 0, 2) for f in frames]
    if flow is not None:
        flow = flow.transpose(1, 0, 2)[..., [1, 0, 3, 2]]
    return frames, flow


def reverse_time(frames: Frames, t: float, flow: Optional[np.ndarray]
                 ) -> Tuple[Frames, float, Optional[np.ndarray]]:
    """Swap the end frames: t becomes 1 - t and the two flows trade places."""
    img0, imgt, img1 = frames
    if flow is not None:
        flow = flow[..., [2, 3, 0, 1]]
    return [img1, imgt, img0], 1.0 - t, flow
