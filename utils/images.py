"""Image files: which names are images, their natural order, and reading one as 8-bit RGB."""
from __future__ import annotations

import os
import re
from typing import List, Optional, Tuple

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


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """(height, width) from the file's header without decoding the pixels (None if the header
    cannot be read), so that a limit on the frame size can refuse a huge image cheaply."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return h, w


def read_image(path: str) -> Tuple[np.ndarray, str]:
    """(H, W, 3) uint8 RGB and a note of what was converted ('' if nothing).

    EXIF orientation is applied (the image is shown as a viewer shows it), 16-bit is scaled
    to 8-bit, grey is expanded and alpha dropped. IMREAD_ANYDEPTH | IMREAD_ANYCOLOR keeps the
    depth and the channel count (so the notes are true) while, unlike IMREAD_UNCHANGED, still
    honouring the orientation tag."""
    img = cv2.imread(path, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise ImageReadError(f"cannot read image {path} (missing, truncated or not an image)")
    return to_rgb8(img)


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB (see read_image)."""
    return read_image(path)[0]


def to_rgb8(img: np.ndarray) -> Tuple[np.ndarray, str]:
    """OpenCV's BGR(A)/grey, 8 or 16 bit -> (H, W, 3) uint8 RGB and a note of what changed."""
    notes = []
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257).round().astype(np.uint8)
        notes.append("16-bit converted to 8-bit")
    elif img.dtype != np.uint8:
        kind = img.dtype
        img = np.clip(np.nan_to_num(img.astype(np.float32)) * (255 if img.max() <= 1 else 1),
                      0, 255).astype(np.uint8)
        notes.append(f"{kind} converted to 8-bit")
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        notes.append("grey converted to RGB")
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        notes.append("alpha channel dropped")
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img), ", ".join(notes)
