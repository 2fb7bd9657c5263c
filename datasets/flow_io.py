"""Middlebury `.flo` optical-flow files: magic 202021.25 ('PIEH'), int32 width, int32 height,
then height*width*2 float32 (u, v) in row-major order."""
from __future__ import annotations

import os

import numpy as np

from datasets.common import DatasetError
from utils.atomic import atomic_open

MAGIC = b"PIEH"  # the float 202021.25 in little-endian bytes
MAX_SIDE = 1 << 16


class FlowFileError(DatasetError):
    """A .flo file that is missing, truncated or not a .flo file."""


def read_flo(path: str) -> np.ndarray:
    """(H, W, 2) float32 flow from a .flo file."""
    try:
        with open(path, "rb") as f:
            header = f.read(12)
            if len(header) < 12 or header[:4] != MAGIC:
                raise FlowFileError(f"{path} is not a .flo file (bad magic number)")
            w, h = (int(v) for v in np.frombuffer(header[4:], dtype="<i4"))
            if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
                raise FlowFileError(f"{path} has an impossible size {w}x{h}")
            data = np.frombuffer(f.read(), dtype="<f4")
    except OSError as e:
        raise FlowFileError(f"cannot read flow file {path}: {e.strerror or e}") from None
    if data.size < h * w * 2:
        raise FlowFileError(f"{path} is truncated: {data.size} of {h * w * 2} values")
    return data[:h * w * 2].reshape(h, w, 2).astype(np.float32)


def write_flo(path: str, flow: np.ndarray) -> None:
    """Write (H, W, 2) flow atomically (temporary file, then rename)."""
    flow = np.asarray(flow, dtype="<f4")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise FlowFileError(f"flow to write must be (H, W, 2), got {flow.shape}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_open(path, "wb") as f:
        f.write(MAGIC)
        f.write(np.array([flow.shape[1], flow.shape[0]], dtype="<i4").tobytes())
        f.write(np.ascontiguousarray(flow).tobytes())
