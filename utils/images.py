"""Image files: which names are images, their natural order, and reading one as 8-bit RGB."""
from __future__ import annotations

import os
import re
from typing import List

import cv2
import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
    """An image file that is missing or cannot be decoded."""


def natural_key(name: str) -> List[object]:
    """Sort key comparing digit runs as numbers, case-insensitively: frame9 < Frame10."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def list_images(folder: str) -> List[str]:
    """Paths of the image files directly in `folder`, in natural order."""
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(folder, n))]
    return [os.path.join(folder, n) for n in sorted(names, key=natural_key)]


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageReadError(f"cannot read image {path} (missing, truncated or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
