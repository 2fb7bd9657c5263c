"""Images: which file names are images, their natural order, reading one as 8-bit RGB, and
the one conversion between (H, W, 3) RGB arrays and the model's (B, 3, H, W) float tensors."""
from __future__ import annotations

import math
import os
import re
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
RANGE_TOLERANCE = 1e-3  # resampling and colour conversion overshoot [0, 1] by rounding errors


class ImageReadError(ValueError):
    """An image file that is missing or cannot be decoded."""


class InputError(ValueError):
    """Frames (or times) the model cannot interpolate."""


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
        scale = 255 if np.nanmax(img) <= 1 else 1  # [0, 1] floats (e.g. EXR) or 0..255 values
        img = np.clip(np.nan_to_num(img.astype(np.float32)) * scale, 0, 255).round().astype(np.uint8)
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


def range_problem(lo: float, hi: float) -> Optional[str]:
    """Why float pixel values from `lo` to `hi` are not frames in [0, 1], with the likely fix."""
    if lo >= -RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
        return None
    if hi > 1.5:
        fix = " - divide by 255"
    elif lo >= -1 - RANGE_TOLERANCE and lo < -RANGE_TOLERANCE:
        fix = " - frames in [-1, 1]? map them with (x + 1) / 2"
    else:
        fix = ""
    return f"float images must be in [0, 1]; got min {lo:.4g}, max {hi:.4g}{fix}"


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) RGB uint8/uint16/float image -> (1, 3, H, W) float32 in [0, 1]."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"expected an RGB image of shape (H, W, 3), got {img.shape}")
    if img.size == 0:
        raise InputError("image is empty")
    if not img.flags.writeable:  # e.g. decoded video buffers; torch wants writable memory
        img = img.copy()
    if img.dtype == np.uint8:
        x = torch.from_numpy(np.ascontiguousarray(img)).float() / 255
    elif img.dtype == np.uint16:
        x = torch.from_numpy(img.astype(np.float32) / 65535)
    elif np.issubdtype(img.dtype, np.floating):
        x = torch.from_numpy(img.astype(np.float32))
        lo, hi = float(x.min()), float(x.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InputError("image holds non-finite values (NaN or inf)")
        problem = range_problem(lo, hi)
        if problem:
            raise InputError(problem.replace(f"min {lo:.4g}, max", "max") if lo >= 0 else problem)
    else:
        raise InputError(f"unsupported image dtype {img.dtype} (uint8, uint16 or float in [0, 1])")
    return x.permute(2, 0, 1).unsqueeze(0).contiguous()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded."""
    if not torch.is_tensor(x) or x.dim() not in (3, 4) or x.shape[-3] != 3:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise InputError(f"to_uint8 takes a (3, H, W) or (1, 3, H, W) tensor, got {shape}")
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise InputError(f"to_uint8 takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise InputError("to_uint8: the image holds non-finite values (NaN or inf), which "
                         "would come out black")
    return (x.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
