"""Small tensor operations shared by the AMT blocks: resizing, backward warping, pixel grids."""
from __future__ import annotations

from typing import Callable, Tuple

import torch
import torch.nn.functional as F


def resize(x: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """Bilinear resize by a factor (align_corners=False), as every AMT resize is done."""
    return F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def resize_to(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to an exact (H, W)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def resize_flow(flow: torch.Tensor, scale_factor: float) -> torch.Tensor:
    """Resize a flow field and scale its vectors with it."""
    return resize(flow, scale_factor) * scale_factor


def coords_grid(b: int, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel coordinates, channel 0 = x (column), channel 1 = y (row).  # (B, 2, H, W)"""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                            torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys], dim=0).unsqueeze(0).expand(b, -1, -1, -1)


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(p) = img(p + flow(p)), bilinear, border padding.

    img: (B, C, H, W), flow: (B, 2, H, W) in pixels.
    """
    b, _, h, w = flow.shape
    # Normalise with the (W-1)/2 convention of align_corners=True; a 1-pixel side stays at 0.
    half_w = max(w - 1, 1) / 2.0
    half_h = max(h - 1, 1) / 2.0
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    gx = (xs + flow[:, 0]) / half_w - 1.0
    gy = (ys + flow[:, 1]) / half_h - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(img, grid.to(img.dtype), mode="bilinear", padding_mode="border",
                         align_corners=True)


# Above this many pixels per image, full-resolution conv stacks run in row tiles.
TILE_PIXELS = 2 ** 18


def rowwise(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, halo: int,
            out_scale: int = 1) -> torch.Tensor:
    """fn(x) computed on horizontal bands of x, each with `halo` extra rows on both sides.

    Exact when fn is a stack of convolutions whose receptive field is within `halo` rows
    (borders of the image keep their own zero padding); bounds the peak memory of
    full-resolution layers. `out_scale` is fn's upsampling factor.
    """
    h, w = x.shape[-2:]
    rows = max(1, TILE_PIXELS // max(w, 1))
    if rows >= h:
        return fn(x)
    bands = []
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        lo, hi = max(0, top - halo), min(h, bottom + halo)
        y = fn(x[..., lo:hi, :])
        bands.append(y[..., (top - lo) * out_scale:(bottom - lo) * out_scale, :])
    return torch.cat(bands, dim=-2)
