"""Small tensor operations shared by the AMT blocks: resizing, backward warping, pixel grids."""
from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F


def resize(x: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """Bilinear resize by a factor (align_corners=False), as every AMT resize is done."""
    return F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def resize_to(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to an exact (H, W)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def resize_rows(maps: Sequence[torch.Tensor], first: int, size: Tuple[int, int], in_h: int,
                lo: int, hi: int) -> List[torch.Tensor]:
    """Rows [lo, hi) of `resize_to(full, size)` for each map, where a map holds rows
    [first, first + h) of an (in_h, w) map `full`, including
    `source_rows(in_h, size[0], lo, hi)`."""
    i0, i1, frac = _bilinear_taps(in_h, size[0], lo, hi, maps[0].device)
    i0, i1, frac = i0 - first, i1 - first, frac.view(-1, 1)
    out = []
    for x in maps:
        f = frac.to(x.dtype)
        rows = x[..., i0, :] * (1 - f) + x[..., i1, :] * f
        out.append(resize_to(rows, (hi - lo, size[1])))  # same height: only the width resizes
    return out


def source_rows(in_h: int, out_h: int, lo: int, hi: int) -> Tuple[int, int]:
    """The input rows [a, b) that bilinear resizing to out_h reads for output rows [lo, hi)."""
    # Host arithmetic (these are Python ints that slice tensors), the same float32 steps as
    # _bilinear_taps: only the first and last output rows matter.
    return _source_row(in_h, out_h, lo)[0], _source_row(in_h, out_h, hi - 1)[1] + 1


def _source_row(in_h: int, out_h: int, dst: int) -> Tuple[int, int]:
    """(i0, i1) of output row dst, in float32 like _bilinear_taps."""
    f32 = np.float32
    src = max((f32(dst) + f32(0.5)) * (f32(in_h) / f32(out_h)) - f32(0.5), f32(0))
    i0 = min(int(np.floor(src)), in_h - 1)
    return i0, min(i0 + 1, in_h - 1)


def _bilinear_taps(in_h: int, out_h: int, lo: int, hi: int, device: torch.device
                   ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # PyTorch's align_corners=False convention, in float32 as its kernels compute it:
    # src = (dst + 0.5) * in/out - 0.5, clamped at 0. Built on `device`: a tensor built on
    # the host and copied would be a blocking host-to-device copy in every band.
    f32 = torch.float32
    scale = torch.full((), in_h, dtype=f32, device=device) / out_h
    src = ((torch.arange(lo, hi, dtype=f32, device=device) + 0.5) * scale - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=in_h - 1)
    return i0, (i0 + 1).clamp(max=in_h - 1), src - i0


def coords_grid(b: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """Pixel coordinates, channel 0 = x (column), channel 1 = y (row).  # (B, 2, H, W)

    Always float32, as the warp grids are: autocast dtypes would round the coordinates."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    return torch.stack([xs, ys], dim=0).unsqueeze(0).expand(b, -1, -1, -1)


def warp(img: torch.Tensor, flow: torch.Tensor, top: int = 0) -> torch.Tensor:
    """Backward warp: out(p) = img(p + flow(p)), bilinear, border padding.

    img: (B, C, H, W); flow: (B, 2, h, W) in pixels, for rows [top, top + h) of img
    (the whole image by default).  -> (B, C, h, W)
    """
    h, w = img.shape[-2:]
    fh = flow.shape[-2]
    # The grid is float32 whatever the autocast dtype: in bfloat16, x = 1000 + 0.3 would
    # round to 1000 and the normalised coordinates to steps of 2.5 pixels on a 1280-wide frame.
    # NCHW: the grid is built from the flow's channels, slow to read from channels-last.
    flow = flow.float().contiguous()
    # Normalise with the (W-1)/2 convention of align_corners=True; a 1-pixel side stays at 0.
    half_w = max(w - 1, 1) / 2.0
    half_h = max(h - 1, 1) / 2.0
    xs = torch.arange(w, device=flow.device, dtype=torch.float32).view(1, 1, w)
    ys = torch.arange(top, top + fh, device=flow.device, dtype=torch.float32).view(1, fh, 1)
    gx = (xs + flow[:, 0]) / half_w - 1.0
    gy = (ys + flow[:, 1]) / half_h - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(img.float(), grid, mode="bilinear", padding_mode="border",
                         align_corners=True).to(img.dtype)


def row_bands(h: int, w: int, halo: int, band_pixels: Optional[int]
              ) -> Iterator[Tuple[int, int, int, int]]:
    """(top, bottom, lo, hi) of each band of about band_pixels pixels (None: one band): rows
    [top, bottom) are kept, rows [lo, hi) are computed (the band plus `halo` rows each side,
    within 0..h)."""
    if band_pixels is None:
        # Without range() over h: an ONNX export keeps h symbolic (range would fix it).
        yield 0, h, 0, h
        return
    rows = max(1, band_pixels // max(w, 1))
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        yield top, bottom, max(0, top - halo), min(h, bottom + halo)


def capturing_a_graph() -> bool:
    """A trace, an ONNX export or torch.compile is recording the calls: choices made from the
    data on the host would be frozen into the graph."""
    return (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling())
