"""Images: which file names are images, their natural order, reading and writing them at
their depth (8 or 16 bit) with alpha, and the one conversion between (H, W, 3|4) RGB(A)
arrays and the model's (B, 3|4, H, W) float tensors."""
from __future__ import annotations

import errno
import functools
import math
import os
import re
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
RANGE_TOLERANCE = 1e-3  # resampling and colour conversion overshoot [0, 1] by rounding errors


def full_scale(dtype) -> int:
    """The one scale rule between integer images and [0, 1] floats: an image's full scale is
    its type's maximum (255 for uint8, 65535 for uint16)."""
    return int(np.iinfo(dtype).max)


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


def read_image(path: str, rgb8: bool = False) -> Tuple[np.ndarray, str]:
    """(H, W, 3) RGB or (H, W, 4) RGBA, uint8 or uint16 as stored, and a one-line note of what
    was converted or assumed ('' if nothing). rgb8: (H, W, 3) uint8 RGB instead, what the
    training and benchmark data sets are published as (16 bits scaled, alpha dropped).

    EXIF orientation is applied (the image is shown as a viewer shows it); grey becomes RGB
    and grey + alpha RGBA; other depths (float or 32-bit TIFF/EXR) become 16-bit. OpenCV
    decodes without colour management, so an embedded ICC profile other than sRGB is named
    in the note as assumed sRGB."""
    img, notes = _decode(path)
    if rgb8:
        img, converted = to_rgb8(img)
        return img, ", ".join(([converted] if converted else []) + notes)
    img, converted = to_rgb(img)
    return img, ", ".join(converted + notes)


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB: `read_image(path, rgb8=True)` without the note."""
    return read_image(path, rgb8=True)[0]


# EXIF orientation -> the steps that show the stored pixels as a viewer does
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
           7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: a.swapaxes(0, 1)[::-1]}


def _decode(path: str) -> Tuple[np.ndarray, List[str]]:
    """OpenCV's BGR(A)/grey array, any depth, orientation applied; notes on the colour space.
    IMREAD_UNCHANGED is the only mode that keeps alpha, and it ignores the orientation tag,
    which is therefore read (with the ICC profile) from the header by PIL."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageReadError(f"cannot read image {path} (missing, truncated or not an image)")
    orientation, icc, fmt = _header(path)
    if fmt == "TIFF" and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 4:
        img = _tiff_rgba8(path, img)
    if orientation in _ORIENT:
        img = np.ascontiguousarray(_ORIENT[orientation](img))
    name = _icc_name(icc) if icc else "sRGB"
    return img, ([] if "srgb" in name.lower() else
                 [f"embedded ICC profile {name!r} not applied (colours assumed sRGB)"])


def _header(path: str) -> Tuple[int, Optional[bytes], Optional[str]]:
    """(EXIF orientation, 1 if none; embedded ICC profile or None; PIL's format name), from
    the header only."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            icc = im.info.get("icc_profile")
            # PIL's PNG getexif() decodes the whole image to look for an eXIf chunk after the
            # pixels; one before them (where writers put it) is already in info
            if im.format == "PNG" and "exif" not in im.info:
                return 1, icc, im.format
            return int(im.getexif().get(0x0112, 1)), icc, im.format
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 1, None, None


def _tiff_rgba8(path: str, img: np.ndarray) -> np.ndarray:
    """An 8-bit RGBA TIFF as BGRA with straight alpha. OpenCV reads those through libtiff's
    RGBA interface, which multiplies the colour by a (straight) alpha; PIL gives it as
    stored (and un-multiplies premultiplied files). img: OpenCV's reading, kept if PIL fails."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            rgba = np.asarray(im.convert("RGBA"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return img
    return np.ascontiguousarray(rgba[..., [2, 1, 0, 3]]) if rgba.shape == img.shape else img


@functools.lru_cache(maxsize=16)
def _icc_name(icc: bytes) -> str:
    """An ICC profile's description ('sRGB IEC61966-2.1', 'Display P3'); 'unnamed' if unreadable."""
    import io
    try:
        from PIL import ImageCms
        name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except (ImportError, OSError, ValueError, TypeError):
        return "unnamed"
    return " ".join(str(name).split()) or "unnamed"


def to_rgb(img: np.ndarray) -> Tuple[np.ndarray, List[str]]:
    """OpenCV's BGR(A)/grey(+alpha), any depth -> (H, W, 3|4) RGB(A), uint8 or uint16 as
    stored (other depths to 16 bits), and the notes of what changed."""
    notes = []
    if img.dtype not in (np.uint8, np.uint16):
        img, note = to_depth(img, np.uint16)
        notes.append(note)
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        notes.append("grey converted to RGB")
    elif img.shape[2] == 2:  # grey + alpha (OpenCV gives PNGs as BGRA, TIFFs may stay 2-channel)
        img = np.concatenate([np.repeat(img[..., :1], 3, axis=2), img[..., 1:]], axis=2)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img), notes


def to_rgb8(img: np.ndarray) -> Tuple[np.ndarray, str]:
    """OpenCV's BGR(A)/grey, any depth -> (H, W, 3) uint8 RGB and a note of what changed."""
    notes = []
    if img.dtype != np.uint8:
        img, note = to_depth(img, np.uint8)
        notes.append(note)
    if img.ndim == 3 and img.shape[2] in (2, 4):
        img = img[..., :-1]
        notes.append("alpha channel dropped")
    img, converted = to_rgb(img)
    return img, ", ".join(notes + converted)


def to_depth(img: np.ndarray, dtype: type) -> Tuple[np.ndarray, str]:
    """The one depth conversion: img as `dtype` (uint8 or uint16), rounded, and the note
    saying so ('' when it already is): integers by `full_scale`, floats taken as [0, 1] (or
    as 0..255 when their maximum says so)."""
    if img.dtype == np.dtype(dtype):
        return img, ""
    top = full_scale(dtype)
    bits = f"{8 * np.dtype(dtype).itemsize}-bit"
    if img.dtype in (np.uint8, np.uint16):
        scaled = img.astype(np.float32) * (top / full_scale(img.dtype))
        return scaled.round().astype(dtype), f"{8 * img.dtype.itemsize}-bit converted to {bits}"
    values = np.nan_to_num(img.astype(np.float32))
    full = 1 if np.issubdtype(img.dtype, np.floating) and values.max(initial=0) <= 1 else 255
    scaled = np.clip(values * (top / full), 0, top)
    return scaled.round().astype(dtype), f"{img.dtype} converted to {bits}"


# The formats that keep 16 bits and alpha; the others are written 8-bit RGB only.
DEEP_EXTS = (".png", ".tif", ".tiff")


def write_image(path: str, img: np.ndarray, atomic: bool = True) -> None:
    """Write (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or uint16, to `path` (format from the
    extension: PNG or TIFF keep 16 bits and alpha; JPEG, BMP and WebP take 8-bit RGB),
    through a temporary beside it renamed over it. atomic=False writes `path` directly: for
    files inside a temporary folder that is itself renamed into place once complete (a
    rename and fsync per frame there doubled the time per frame). Raises OutputError (one
    line)."""
    from utils.atomic import OutputError, describe_os_error, write_bytes
    ext = os.path.splitext(path)[1].lower()
    img = np.asarray(img)
    problem = None
    if img.dtype not in (np.uint8, np.uint16):
        problem = f"{img.dtype} image; write_image takes uint8 or uint16"
    elif img.ndim != 3 or img.shape[2] not in (3, 4):
        problem = f"an image of shape {img.shape}; write_image takes (H, W, 3) or (H, W, 4)"
    elif ext not in IMAGE_EXTS:
        problem = f"unknown image extension {ext!r}; use one of {', '.join(IMAGE_EXTS)}"
    elif ext not in DEEP_EXTS and (img.dtype != np.uint8 or img.shape[2] != 3):
        what = "16-bit" if img.dtype != np.uint8 else "alpha"
        problem = f"{ext} cannot hold {what}; PNG or TIFF can"
    if problem:
        raise OutputError(errno.EINVAL, f"cannot write {path}: {problem}")
    code = cv2.COLOR_RGBA2BGRA if img.shape[2] == 4 else cv2.COLOR_RGB2BGR
    try:
        ok, data = cv2.imencode(ext, cv2.cvtColor(np.ascontiguousarray(img), code))
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(errno.EIO, f"cannot write {path}: OpenCV could not encode it as {ext}")
    data = data.tobytes()
    if ext in (".tif", ".tiff") and img.shape[2] == 4:
        data = _tiff_alpha(data)
    if atomic:
        write_bytes(path, data)
        return
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise OutputError(e.errno, f"cannot write {path}: {describe_os_error(e)}") from e


_EXTRA_SAMPLES = 338  # TIFF tag: what the channels after the colour are (2: straight alpha)


def _tiff_alpha(data: bytes) -> bytes:
    """A TIFF from OpenCV with an ExtraSamples tag saying its fourth channel is straight
    alpha, which OpenCV's writer leaves out. The first directory is copied with the tag
    added to the end of the file and the header pointed at it; every offset in it still
    points at the same bytes."""
    import struct
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        return data  # not classic TIFF (e.g. BigTIFF): written as OpenCV made it
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
    entries = [data[ifd + 2 + 12 * i:ifd + 14 + 12 * i] for i in range(count)]
    tags = [struct.unpack(order + "H", e[:2])[0] for e in entries]
    if _EXTRA_SAMPLES in tags:
        return data
    entries.append(struct.pack(order + "HHIHH", _EXTRA_SAMPLES, 3, 1, 2, 0))  # SHORT, 1 value
    entries.sort(key=lambda e: struct.unpack(order + "H", e[:2])[0])  # tags in ascending order
    nxt = data[ifd + 2 + 12 * count:ifd + 6 + 12 * count]
    body = data + b"\0" * (len(data) % 2)  # a directory starts on a word boundary
    new = struct.pack(order + "H", len(entries)) + b"".join(entries) + nxt
    return body[:4] + struct.pack(order + "I", len(body)) + body[8:] + new


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
    """(H, W, 3|4) RGB(A) uint8/uint16/float image -> (1, 3|4, H, W) float32 in [0, 1]
    (integers divided by their `full_scale`)."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InputError(f"expected an RGB(A) image of shape (H, W, 3) or (H, W, 4), "
                         f"got {img.shape}")
    if img.size == 0:
        raise InputError("image is empty")
    if not img.flags.writeable:  # e.g. decoded video buffers; torch wants writable memory
        img = img.copy()
    if img.dtype in (np.uint8, np.uint16):
        x = torch.from_numpy(np.ascontiguousarray(img)).float() / full_scale(img.dtype)
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


def to_image(x: torch.Tensor, dtype: type = np.uint8) -> np.ndarray:
    """(C, H, W) or (1, C, H, W) float in [0, 1], C = 3 (RGB) or 4 (RGBA) -> (H, W, C) uint8
    or uint16: x * `full_scale(dtype)`, rounded."""
    if dtype not in (np.uint8, np.uint16):
        raise InputError(f"to_image makes uint8 or uint16 images, not {dtype}")
    if not torch.is_tensor(x) or x.dim() not in (3, 4) or x.shape[-3] not in (3, 4):
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise InputError(f"to_image takes a (3, H, W) or (1, 3, H, W) tensor (4 channels "
                         f"with alpha), got {shape}")
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise InputError(f"to_image takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise InputError("to_image: the image holds non-finite values (NaN or inf), which "
                         "would come out black")
    scaled = (x.detach().float().clamp(0, 1) * float(full_scale(dtype))).round()
    # torch has no general uint16: 16-bit values go through int32
    scaled = scaled.byte() if dtype == np.uint8 else scaled.int()
    return scaled.permute(1, 2, 0).cpu().numpy().astype(dtype, copy=False)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) or (1, C, H, W) float in [0, 1], C = 3 or 4 -> (H, W, C) uint8, rounded."""
    return to_image(x, np.uint8)
