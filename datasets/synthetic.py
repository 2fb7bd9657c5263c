"""Synthetic motion with exact ground truth, from any folder of real photos.

A sample is a background and a few foreground patches (elliptic cut-outs) of photos, each
moving with its own affine motion that is linear in time (the background, with probability
`static_background_p`, not at all): a texture point u is on screen at
x(tau) = (A0 + tau*D)(u - u_c) + c + tau*v. Every frame, the middle one included, is
rendered by sampling the textures (not by interpolating frames), and the flows from time t to
times 0 and 1 follow from the motion of the topmost layer at each pixel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from torch.utils.data import Dataset

from datasets.augment import Augment
from datasets.common import DatasetError, probability, read_frame, sample_rng, to_sample
from utils.images import list_images


def default_photo_dir() -> str:
    """scikit-image's bundled photographs (installed with the test extra)."""
    try:
        import skimage.data
    except ImportError:
        raise DatasetError("no photo_dir given and scikit-image is not installed") from None
    return os.path.dirname(skimage.data.__file__)


@dataclass
class Layer:
    texture: np.ndarray      # (h, w, 3) float32 in [0, 1]
    center: np.ndarray       # u_c, texture coordinates (x, y)
    a0: np.ndarray           # (2, 2) screen-from-texture matrix at tau = 0
    d: np.ndarray            # (2, 2) its rate of change
    c: np.ndarray            # screen position of u_c at tau = 0
    v: np.ndarray            # screen velocity (px per unit time)
    radii: Optional[Tuple[float, float]] = None  # ellipse in texture px; None = background

    def texture_coords(self, grid: np.ndarray, tau: float) -> np.ndarray:
        """u for every screen pixel at time tau.  grid: (H, W, 2) -> (H, W, 2)"""
        inv = np.linalg.inv(self.a0 + tau * self.d)
        return (grid - self.c - tau * self.v) @ inv.T + self.center

    def position(self, u: np.ndarray, tau: float) -> np.ndarray:
        return (u - self.center) @ (self.a0 + tau * self.d).T + self.c + tau * self.v

    def alpha(self, u: np.ndarray) -> np.ndarray:
        if self.radii is None:
            return np.ones(u.shape[:2], np.float32)
        q = (u - self.center) / np.asarray(self.radii, np.float32)
        r = np.sqrt((q ** 2).sum(-1))
        return np.clip((1 - r) * min(self.radii) + 0.5, 0, 1).astype(np.float32)  # ~1 px edge

    def render(self, u: np.ndarray) -> np.ndarray:
        m = u.astype(np.float32)
        return cv2.remap(self.texture, m[..., 0], m[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)


class SyntheticMotion(Dataset):
    """Triplets (t = 0.5) or arbitrary-time samples (t = k/8) with exact frames and flows.

    `seed`: None draws every sample from torch's RNG (training); an int fixes sample i for
    good (validation sets).
    """

    def __init__(self, photo_dir: Optional[str] = None, length: int = 10000,
                 size: Sequence[int] = (224, 224), foreground: Sequence[int] = (1, 3),
                 max_motion: float = 12.0, static_background_p: float = 0.0,
                 arbitrary_time: bool = False, augment: bool = True,
                 seed: Optional[int] = None, min_photo_side: int = 128) -> None:
        folder = photo_dir or default_photo_dir()
        if not os.path.isdir(folder):
            raise DatasetError(f"photo folder not found: {folder} (expected a folder of photos)")
        self.paths = [p for p in list_images(folder) if _big_enough(p, min_photo_side)]
        if len(self.paths) < 2:
            raise DatasetError(f"{folder} has fewer than two usable photos "
                               f"(>= {min_photo_side} px per side)")
        self.length, self.size = int(length), (int(size[0]), int(size[1]))
        self.foreground, self.max_motion = tuple(foreground), float(max_motion)
        self.static_background_p = probability(static_background_p, "static_background_p")
        self.arbitrary_time, self.seed = arbitrary_time, seed
        self.augment = Augment(crop=None, upscale_p=0.0) if augment else None
        self._cache: Dict[str, np.ndarray] = {}
        h, w = self.size
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        self.grid = np.stack([xs, ys], axis=-1)  # (H, W, 2) as (x, y)

    def __len__(self) -> int:
        return self.length

    def _photo(self, rng: np.random.Generator) -> np.ndarray:
        path = self.paths[int(rng.integers(len(self.paths)))]
        if path not in self._cache:
            self._cache[path] = read_frame(path).astype(np.float32) / 255
        return self._cache[path]

    def _layer(self, rng: np.random.Generator, foreground: bool, still: bool = False) -> Layer:
        """still: no motion at all, so the layer's pixels are identical in every frame."""
        tex = self._photo(rng)
        th, tw = tex.shape[:2]
        h, w = self.size
        zoom = rng.uniform(0.7, 1.4)
        angle = rng.uniform(-0.3, 0.3)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        a0 = (zoom * rot).astype(np.float32)
        d = rng.normal(0, 0.04 if foreground else 0.02, (2, 2)).astype(np.float32)
        speed = self.max_motion * (1.6 if foreground else 1.0)
        v = rng.uniform(-speed, speed, 2).astype(np.float32)
        if still:
            d, v = np.zeros_like(d), np.zeros_like(v)
        center = np.array([rng.uniform(0.3, 0.7) * tw, rng.uniform(0.3, 0.7) * th], np.float32)
        if foreground:
            c = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h], np.float32)
            radii = tuple(rng.uniform(0.1, 0.3, 2) * min(h, w) / zoom)
        else:
            c = np.array([w / 2, h / 2], np.float32) - v / 2
            radii = None
        return Layer(tex, center, a0, d, c, v, radii)

    def __getitem__(self, i: int) -> Dict[str, object]:
        rng = sample_rng() if self.seed is None else np.random.default_rng([self.seed, i])
        # a locked-off camera: real video often moves only in front of an exactly still scene
        # (no draw at p = 0, so existing seeded sets, validation among them, stay the same)
        still = self.static_background_p > 0 and rng.random() < self.static_background_p
        layers = [self._layer(rng, False, still)]
        layers += [self._layer(rng, True)
                   for _ in range(int(rng.integers(self.foreground[0], self.foreground[1] + 1)))]
        t = int(rng.integers(1, 8)) / 8 if self.arbitrary_time else 0.5
        frames = [self._render(layers, tau) for tau in (0.0, t, 1.0)]
        flow = self._flow(layers, t)
        if self.augment is not None:
            frames, t, flow = self.augment(frames, t, flow, rng)
        return to_sample(frames, t, flow, name=f"synthetic/{i}")

    def _render(self, layers: List[Layer], tau: float) -> np.ndarray:
        img = None
        for layer in layers:
            u = layer.texture_coords(self.grid, tau)
            rgb = layer.render(u)
            a = layer.alpha(u)[..., None]
            img = rgb if img is None else img * (1 - a) + rgb * a
        return np.clip(img, 0, 1).astype(np.float32)

    def _flow(self, layers: List[Layer], t: float) -> np.ndarray:
        """(H, W, 4): where the point seen at each pixel at time t is at times 0 and 1."""
        flow = np.zeros(self.size + (4,), np.float32)
        for layer in layers:  # later (upper) layers overwrite where they are visible
            u = layer.texture_coords(self.grid, t)
            here = layer.alpha(u) >= 0.5
            f = np.concatenate([layer.position(u, 0.0) - self.grid,
                                layer.position(u, 1.0) - self.grid], axis=-1)
            flow[here] = f[here]
        return flow


def _big_enough(path: str, side: int) -> bool:
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return img is not None and min(img.shape[:2]) >= side
