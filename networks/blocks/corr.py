"""All-pairs correlation lookups, two implementations with the same numbers.

corr(p, q) = <fmap0(p), fmap1(q)> / sqrt(D) at 1/8 resolution. Pyramid A average-pools over
the fmap1 positions q and is read at coords0; pyramid B pools over the fmap0 positions p and is
read at coords1. Each read samples a (2r+1)^2 window of integer offsets around coords / 2^l,
bilinear with zeros outside; channel i*(2r+1)+j carries x-offset i-r and y-offset j-r.

* DenseCorr builds both (h*w)^2 volumes once: fastest for small frames.
* OnDemandCorr never builds them: average pooling is linear, so level l of pyramid A is the
  correlation of fmap0 with pooled fmap1, and since the window offsets are integers, every
  window shares one set of bilinear weights. Each lookup therefore gathers the (2r+2)^2
  integer neighbours of the pooled features, takes dot products, and blends them.
"""
from __future__ import annotations

import math
from typing import List, Literal

import torch
import torch.nn.functional as F

from networks.plan import CPU_PLAN, ExecutionPlan, dense_volume_bytes

CorrMode = Literal["auto", "dense", "ondemand"]
CORR_MODES = ("auto", "dense", "ondemand")


def _pool_pyramid(x: torch.Tensor, levels: int) -> List[torch.Tensor]:
    out = [x]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(out[-1], 2, stride=2))
    return out


def _window_offsets(radius: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    d = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    ox, oy = torch.meshgrid(d, d, indexing="ij")  # x-offset is the outer index (checkpoint quirk)
    return torch.stack([ox, oy], dim=-1)  # (2r+1, 2r+1, 2) as (x, y)


class DenseCorr:
    """Builds the full correlation volumes and their pyramids once per frame pair."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int) -> None:
        b, d, h, w = fmap0.shape
        self.radius, self.shape = radius, (b, h, w)
        corr = torch.matmul(fmap0.reshape(b, d, h * w).transpose(1, 2), fmap1.reshape(b, d, h * w))
        corr = corr / math.sqrt(d)  # (B, hw[p], hw[q])
        self.pyramid0 = _pool_pyramid(corr.reshape(b * h * w, 1, h, w), levels)
        self.pyramid1 = _pool_pyramid(corr.transpose(1, 2).reshape(b * h * w, 1, h, w), levels)

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._lookup(self.pyramid0, coords0),
                          self._lookup(self.pyramid1, coords1)], dim=1)

    def _lookup(self, pyramid: List[torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        b, h, w = self.shape
        if pyramid[0].dtype != coords.dtype:
            return self._lookup_low_precision(pyramid, coords)
        centroid = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
        delta = _window_offsets(self.radius, coords.device, coords.dtype)
        out = []
        for lvl, corr in enumerate(pyramid):
            pts = centroid / 2 ** lvl + delta  # (BN, 2r+1, 2r+1, 2)
            hl, wl = corr.shape[-2:]
            # Same normalisation as the published sampler (divides by zero on 1-pixel levels;
            # the inference API pads inputs so that never happens).
            gx = 2 * pts[..., 0] / (wl - 1) - 1
            gy = 2 * pts[..., 1] / (hl - 1) - 1
            s = F.grid_sample(corr, torch.stack([gx, gy], -1), align_corners=True)
            out.append(s.reshape(b, h, w, -1))
        return torch.cat(out, dim=-1).permute(0, 3, 1, 2)  # (B, L*(2r+1)^2, h, w)

    def _lookup_low_precision(self, pyramid: List[torch.Tensor], coords: torch.Tensor
                              ) -> torch.Tensor:
        """The same reads for a float16/bfloat16 volume (autocast), without grid_sample:
        autocast runs grid_sample in float32, which copies the whole volume to float32 at
        every lookup, and a low-precision grid would round the positions (bfloat16 keeps 8
        bits: a quarter pixel on a 120-wide level). The window offsets are integers, so every
        window shares one set of bilinear weights: gather the (2r+2)^2 integer neighbours in
        the volume's dtype, blend them in float32 with float32 weights. -> float32, like
        the promoted grid_sample."""
        b, h, w = self.shape
        n, k = b * h * w, 2 * self.radius + 2
        xy = coords.permute(0, 2, 3, 1).reshape(n, 2)  # (BN, 2) float32
        steps = torch.arange(-self.radius, self.radius + 2, device=coords.device)  # (K,)
        out = []
        for lvl, corr in enumerate(pyramid):
            hl, wl = corr.shape[-2:]
            pts = xy / 2 ** lvl
            base = torch.floor(pts)
            frac = pts - base
            xs = base[:, 0:1].long() + steps  # (BN, K)
            ys = base[:, 1:2].long() + steps
            inside = (((ys >= 0) & (ys < hl)).unsqueeze(2)
                      & ((xs >= 0) & (xs < wl)).unsqueeze(1))  # (BN, K[y], K[x]): zeros outside
            idx = ys.clamp(0, hl - 1).unsqueeze(2) * wl + xs.clamp(0, wl - 1).unsqueeze(1)
            v = corr.reshape(n, hl * wl).gather(1, idx.reshape(n, k * k)).reshape(n, k, k)
            v = v.float() * inside
            fx, fy = frac[:, 0].view(n, 1, 1), frac[:, 1].view(n, 1, 1)
            left = v[:, :-1, :-1] * (1 - fy) + v[:, 1:, :-1] * fy
            right = v[:, :-1, 1:] * (1 - fy) + v[:, 1:, 1:] * fy
            s = left * (1 - fx) + right * fx  # (BN, oy, ox)
            out.append(s.transpose(1, 2).reshape(b, h, w, -1))  # channel ox*(2r+1)+oy
        return torch.cat(out, dim=-1).permute(0, 3, 1, 2)  # (B, L*(2r+1)^2, h, w)


class OnDemandCorr:
    """Computes lookups from (pooled) features without the (h*w)^2 volume."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int,
                 chunk_bytes: int = CPU_PLAN.gather_chunk_bytes) -> None:
        self.radius, self.chunk_bytes = radius, chunk_bytes
        self.scale = 1.0 / math.sqrt(fmap0.shape[1])
        self.fmap0, self.fmap1 = fmap0, fmap1
        self.targets1 = [_RowWindows(x, radius) for x in _pool_pyramid(fmap1, levels)]
        self.targets0 = [_RowWindows(x, radius) for x in _pool_pyramid(fmap0, levels)]

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._lookup(self.fmap0, self.targets1, coords0),
                          self._lookup(self.fmap1, self.targets0, coords1)], dim=1)

    def _lookup(self, query: torch.Tensor, targets: List["_RowWindows"],
                coords: torch.Tensor) -> torch.Tensor:
        b, d, h, w = query.shape
        q = query.reshape(b, d, h * w).transpose(1, 2).contiguous()  # (B, P, D)
        xy = coords.reshape(b, 2, h * w).transpose(1, 2)  # (B, P, 2)
        k = 2 * self.radius + 2
        # Rows of gathered features per chunk: bounds the lookup's scratch memory.
        chunk = max(1, self.chunk_bytes // (b * k * k * d * q.element_size()))
        levels = []
        for lvl, target in enumerate(targets):
            parts = [self._lookup_level(q[:, s:s + chunk], xy[:, s:s + chunk] / 2 ** lvl, target)
                     for s in range(0, h * w, chunk)]
            levels.append(torch.cat(parts, dim=1))
        out = torch.cat(levels, dim=-1)  # (B, P, L*(2r+1)^2)
        return out.transpose(1, 2).reshape(b, -1, h, w)

    def _lookup_level(self, q: torch.Tensor, xy: torch.Tensor, target: "_RowWindows") -> torch.Tensor:
        b, p, d = q.shape
        k = 2 * self.radius + 2
        base = torch.floor(xy)
        frac = xy - base  # shared by every offset of the window
        feats = target.gather(base.long())  # (B, P, K[y], K[x], D)
        dots = torch.bmm(feats.reshape(b * p, k * k, d), q.reshape(b * p, d, 1))
        v = dots.reshape(b, p, k, k) * self.scale  # [y, x]; zeros outside the map via padding
        fx = frac[..., 0].reshape(b, p, 1, 1)
        fy = frac[..., 1].reshape(b, p, 1, 1)
        left = v[:, :, :-1, :-1] * (1 - fy) + v[:, :, 1:, :-1] * fy
        right = v[:, :, :-1, 1:] * (1 - fy) + v[:, :, 1:, 1:] * fy
        out = left * (1 - fx) + right * fx  # (B, P, oy, ox)
        return out.transpose(2, 3).reshape(b, p, -1)  # channel ox*(2r+1)+oy


class _RowWindows:
    """A zero-padded channels-last feature map whose rows of K = 2r+2 neighbouring pixels are
    contiguous, viewed (without copying) as overlapping (K*D)-long rows for fast gathers."""

    def __init__(self, fmap: torch.Tensor, radius: int) -> None:
        b, d, h, w = fmap.shape
        self.k = k = 2 * radius + 2
        self.pad, self.radius = k, radius  # K of zeros on each side keeps every window inside
        padded = F.pad(fmap, (k, k, k, k)).permute(0, 2, 3, 1).contiguous()  # (B, Hp, Wp, D)
        self.h, self.w, self.hp, self.wp = h, w, h + 2 * k, w + 2 * k
        self.flat = padded.reshape(-1)
        self.rows = torch.as_strided(self.flat, (b * self.hp * self.wp - k + 1, k * d), (d, 1))

    def gather(self, base: torch.Tensor) -> torch.Tensor:
        """Features at (base + offsets), offsets -r..r+1 in x and y.  base: (B, P, 2) long
        -> (B, P, K, K, D) indexed [y, x]."""
        b, p, _ = base.shape
        r, k = self.radius, self.k
        # Windows entirely outside the map read zeros either way, so clamping is exact.
        x = base[..., 0].clamp(-(r + 2), self.w + r) - r + self.pad
        y = base[..., 1].clamp(-(r + 2), self.h + r) - r + self.pad
        steps = torch.arange(k, device=base.device)
        start = (torch.arange(b, device=base.device).view(b, 1, 1) * (self.hp * self.wp)
                 + (y.unsqueeze(-1) + steps) * self.wp + x.unsqueeze(-1))  # (B, P, K[y])
        return self.rows[start.reshape(-1)].reshape(b, p, k, k, -1)


def resolve_mode(mode: CorrMode, b: int, h: int, w: int, itemsize: int,
                 plan: ExecutionPlan = CPU_PLAN) -> str:
    """'dense' or 'ondemand' for B pairs of (h, w) feature maps: 'auto' takes the dense volume
    while it fits the plan's budget."""
    if mode not in CORR_MODES:
        raise ValueError(f"corr_mode must be one of {CORR_MODES}, got {mode!r}")
    if mode != "auto":
        return mode
    return "dense" if dense_volume_bytes(b, h, w, itemsize) <= plan.dense_budget_bytes else "ondemand"


def build_corr(fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int,
               mode: CorrMode = "auto", plan: ExecutionPlan = CPU_PLAN):
    """Pick the correlation implementation for this pair of (B, D, h, w) feature maps."""
    b, _, h, w = fmap0.shape
    if resolve_mode(mode, b, h, w, fmap0.element_size(), plan) == "dense":
        return DenseCorr(fmap0, fmap1, levels, radius)
    return OnDemandCorr(fmap0, fmap1, levels, radius, plan.gather_chunk_bytes)
