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
import threading
import weakref
from typing import Dict, List, Literal, Optional, Tuple

import torch
import torch.nn.functional as F

from networks.blocks.ops import capturing_a_graph
from networks.plan import CPU_PLAN, ExecutionPlan, dense_volume_bytes

CorrMode = Literal["auto", "dense", "ondemand", "tiled"]
CORR_MODES = ("auto", "dense", "ondemand", "tiled")


def _pool_pyramid(x: torch.Tensor, levels: int) -> List[torch.Tensor]:
    out = [x]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(out[-1], 2, stride=2))
    return out


def _as(x: torch.Tensor, dtype: Optional[torch.dtype]) -> torch.Tensor:
    return x if dtype is None else x.to(dtype)


def _product_pyramid(query: torch.Tensor, target: torch.Tensor, levels: int,
                     read_dtype: Optional[torch.dtype] = None,
                     first: Optional[torch.Tensor] = None,
                     scratch: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
    """Level l: <query(p), avg_pool^l(target)(q)> / sqrt(D), each (B*h*w, 1, h_l, w_l), in
    read_dtype (None: the products' dtype); first: a (B, h*w, h*w) tensor level 0 is
    written into (None: a new one), scratch: the same in the products' dtype, where it
    differs (see _product_into)."""
    b, d, h, w = query.shape
    # Scaled once here, not every product: a pass over the queries, not over the volumes.
    q = (query * (1.0 / math.sqrt(d))).reshape(b, d, h * w).transpose(1, 2)  # (B, hw, D)
    out = []
    for lvl, pooled in enumerate(_pool_pyramid(target, levels)):
        hl, wl = pooled.shape[-2:]
        targets = pooled.reshape(b, d, hl * wl)
        if lvl == 0 and first is not None:
            corr = _product_into(q, targets, first, scratch)
        else:
            corr = _as(torch.matmul(q, targets), read_dtype)
        out.append(corr.reshape(b * h * w, 1, hl, wl))
    return out


_AUTOCAST_INPUTS = (torch.float32, torch.float16, torch.bfloat16)  # what autocast casts


def _product_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.dtype:
    """The dtype of torch.matmul(a, b) on the CPU: autocast's where it is on and casts them."""
    if (torch.is_autocast_enabled("cpu") and a.dtype in _AUTOCAST_INPUTS
            and b.dtype in _AUTOCAST_INPUTS):
        return torch.get_autocast_dtype("cpu")
    return torch.promote_types(a.dtype, b.dtype)


def _product_into(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor,
                  scratch: Optional[torch.Tensor] = None) -> torch.Tensor:
    """torch.matmul(a, b) converted to out's dtype, written into out; scratch: where a
    product of another dtype is made first (None: new memory)."""
    dtype = _product_dtype(a, b)
    if a.dtype == b.dtype == dtype:
        if out.dtype == dtype:
            return torch.matmul(a, b, out=out)
        if scratch is not None:
            return out.copy_(torch.matmul(a, b, out=scratch))
    return out.copy_(torch.matmul(a, b))


class _Lease:
    """Holds a kept buffer while it is in use: the buffer is free again once this is gone."""


class _KeptVolumes:
    """Full-resolution volume levels kept from one frame pair to the next on the CPU: glibc
    hands large freed blocks back to the system, so a new volume of tens of MB would be
    page-faulted in again at every pair. One buffer per slot for the whole process (a
    server's many threads do not each hold one), handed to whichever caller asks while the
    owner it was last given to (a DenseCorr, or a _Lease) is gone. Inference mode only:
    nothing recorded for a backward pass can read a buffer that the next pair overwrites."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.slots: Dict[Tuple[str, int], Tuple[torch.Tensor, "weakref.ref[object]"]] = {}

    def take(self, slot: Tuple[str, int], owner: object, shape: Tuple[int, ...],
             dtype: torch.dtype) -> Optional[torch.Tensor]:
        """The slot's buffer for `owner` (a new one if it had none of this shape and dtype),
        or None while the last owner is alive."""
        with self._lock:
            kept = self.slots.get(slot)
            if kept is not None and kept[1]() is not None:
                return None
            buf = None if kept is None else kept[0]
            if buf is not None and (buf.shape != shape or buf.dtype != dtype):
                buf = None
            if buf is None:
                kept = None
                self.slots.pop(slot, None)  # the old buffer goes before the new one is made
                buf = torch.empty(shape, dtype=dtype)
            self.slots[slot] = (buf, weakref.ref(owner))
            return buf


def _may_keep(fmap: torch.Tensor) -> bool:
    return (fmap.device.type == "cpu" and fmap.dtype in _AUTOCAST_INPUTS
            and torch.is_inference_mode_enabled() and not capturing_a_graph())


_KEPT = _KeptVolumes()


def _window_offsets(radius: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    d = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    ox, oy = torch.meshgrid(d, d, indexing="ij")  # x-offset is the outer index (checkpoint quirk)
    return torch.stack([ox, oy], dim=-1)  # (2r+1, 2r+1, 2) as (x, y)


def _extent(x: float, y: float, like: torch.Tensor) -> torch.Tensor:
    """The float32 tensor (x, y) on like's device, filled there: a tensor built on the host
    would be a blocking host-to-device copy in every lookup. (Integer sizes are exact in
    float32, where a bfloat16 one would round 479 to 480.)"""
    out = like.new_full((2,), x, dtype=torch.float32)
    out[1] = y
    return out


class DenseCorr:
    """Builds the full correlation volumes and their pyramids once per frame pair.

    pooled_features: each level of each pyramid is one matrix product of the full-resolution
    queries with pooled features (pooling is linear), where the published code pools the
    volume and copies its transpose: the same numbers to float32 rounding, without the
    passes over the (h*w)^2 volume."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int,
                 pooled_features: bool = False, read_dtype: Optional[torch.dtype] = None,
                 keep: bool = False) -> None:
        """read_dtype: each level is converted to it once built (None: kept as computed).
        keep: with pooled_features, the full-resolution levels are written into buffers kept
        for the next DenseCorr (on the CPU, in inference mode, outside graph capture). The
        pyramids belong to this object: the next DenseCorr may overwrite them once it is
        gone."""
        b, d, h, w = fmap0.shape
        self.radius, self.shape = radius, (b, h, w)
        if pooled_features:
            firsts, scratch = [None, None], [None, None]
            lease = _Lease()  # the products' scratch is held while they are made, not after
            if keep and _may_keep(fmap0):
                shape, product = (b, h * w, h * w), _product_dtype(fmap0, fmap1)
                dtype = read_dtype or product
                firsts = [_KEPT.take(("level 0", i), self, shape, dtype) for i in range(2)]
                if product != dtype:
                    scratch = [None if first is None else
                               _KEPT.take(("scratch", i), lease, shape, product)
                               for i, first in enumerate(firsts)]
            self.pyramid0 = _product_pyramid(fmap0, fmap1, levels, read_dtype, firsts[0],
                                             scratch[0])
            self.pyramid1 = _product_pyramid(fmap1, fmap0, levels, read_dtype, firsts[1],
                                             scratch[1])
            return
        corr = torch.matmul(fmap0.reshape(b, d, h * w).transpose(1, 2), fmap1.reshape(b, d, h * w))
        corr = corr / math.sqrt(d)  # (B, hw[p], hw[q])
        pyramids = (_pool_pyramid(corr.reshape(b * h * w, 1, h, w), levels),
                    _pool_pyramid(corr.transpose(1, 2).reshape(b * h * w, 1, h, w), levels))
        self.pyramid0, self.pyramid1 = ([_as(p, read_dtype) for p in pyr] for pyr in pyramids)

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
            pts = centroid / 2 ** lvl + delta  # (BN, 2r+1, 2r+1, 2), a new tensor
            hl, wl = corr.shape[-2:]
            # The published sampler's normalisation 2 * p / (size - 1) - 1 with the same
            # float32 steps on the CPU (CUDA divides by a scalar as a product with its
            # reciprocal: there this true division may differ by an ulp), x and y together
            # and in place: x and y sliced apart are stride-2 views, slow to compute on, and
            # stacking them again is another pass.
            # (It divides by zero on 1-pixel levels; the inference API pads inputs so that
            # never happens.)
            grid = pts.mul_(2).div_(_extent(wl - 1, hl - 1, pts)).sub_(1)
            s = F.grid_sample(corr, grid, align_corners=True)
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


class TiledCorr:
    """On-demand lookups dominated by matrix products (no (h*w)^2 volume either).

    The query pixels are cut into tile x tile tiles. Neighbouring queries read overlapping
    windows, so for each tile and level one box of S x S target pixels (S = the tile's
    extent at that level + the window + `slack`) usually holds every window of the tile:
    one batched GEMM (tile^2, D) x (D, S^2) per chunk of tiles gives all their dot products,
    and each query picks its (2r+2)^2 integer neighbours from its row of the product. The
    few queries whose window leaves their tile's box (motion boundaries, wild flows) are
    read like OnDemandCorr, one gathered window each. A level no larger than
    `whole_factor` boxes is read whole instead: one GEMM of the queries against every
    target pixel. Same sums in another order: the numbers equal DenseCorr's to float
    rounding.
    """

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int,
                 chunk_bytes: int = CPU_PLAN.gather_chunk_bytes, tile: int = 8,
                 slack: int = 4, whole_factor: float = 2.0) -> None:
        b, d, h, w = fmap0.shape
        self.radius, self.tile, self.chunk_bytes = radius, tile, chunk_bytes
        self.scale = 1.0 / math.sqrt(d)
        self.shape = (b, h, w)
        k = 2 * radius + 2
        # Scaled once here rather than every product.
        self.queries0 = _tiles(fmap0 * self.scale, tile)
        self.queries1 = _tiles(fmap1 * self.scale, tile)

        def reader(fmap: torch.Tensor, lvl: int):
            # The tile's queries spread over ceil((tile - 1) / 2^l) + 1 pixels on level l.
            side = -(-(tile - 1) // 2 ** lvl) + k + slack
            h, w = fmap.shape[2:]
            if h * w <= whole_factor * side ** 2 or min(h, w) + 2 * k < side:
                return _WholeMap(fmap, radius)
            return _Boxes(fmap, radius, side)

        self.targets1 = [reader(x, l) for l, x in enumerate(_pool_pyramid(fmap1, levels))]
        self.targets0 = [reader(x, l) for l, x in enumerate(_pool_pyramid(fmap0, levels))]

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> torch.Tensor:
        b, h, w = self.shape
        t, c = self.tile, len(self.targets0) * (2 * self.radius + 1) ** 2
        th, tw = -(-h // t), -(-w // t)
        # Every chunk writes its blend straight into its place of a channels-last output
        # (no cat, no transposing copy; the 1x1 convolution that reads it takes it as is),
        # seen as (B, tile row, tile column, y, x, channel).
        out = coords0.new_empty(b, th * t, tw * t, 2 * c,
                                dtype=torch.promote_types(self.queries0.dtype, coords0.dtype))
        places = out.view(b, th, t, tw, t, 2 * c).transpose(2, 3)
        self._lookup(self.queries0, self.targets1, coords0, places[..., :c])
        self._lookup(self.queries1, self.targets0, coords1, places[..., c:])
        return out[:, :h, :w].permute(0, 3, 1, 2)  # (B, 2 L (2r+1)^2, h, w)

    def _lookup(self, queries: torch.Tensor, targets: List, coords: torch.Tensor,
                places: torch.Tensor) -> None:
        """Writes the lookups of all levels into places (B, th, tw, t, t, L*(2r+1)^2)."""
        b, h, w = self.shape
        t, n2 = self.tile, (2 * self.radius + 1) ** 2
        th, tw = places.shape[1:3]
        # Padding queries copy their neighbours' coordinates, so they stay in the tile's box.
        xy = _tiles(F.pad(coords, _tile_padding(h, w, t), mode="replicate"), t)  # (N, t*t, 2)
        _, tt, d = queries.shape
        for lvl, target in enumerate(targets):
            # Chunks of whole tile rows of one image: each is one slice of `places`.
            per_row = tw * target.bytes_per_tile(tt, d, queries.element_size())
            rows = max(1, self.chunk_bytes // per_row)
            for image in range(b):
                for r0 in range(0, th, rows):
                    r1 = min(th, r0 + rows)
                    s, e = (image * th + r0) * tw, (image * th + r1) * tw
                    dst = places[image, r0:r1, ..., lvl * n2:(lvl + 1) * n2]
                    self._lookup_level(queries[s:e], xy[s:e] / 2 ** lvl, target, image,
                                       dst.unflatten(-1, (2 * self.radius + 1,) * 2))

    def _lookup_level(self, q: torch.Tensor, xy: torch.Tensor, target, image: int,
                      dst: torch.Tensor) -> None:
        """q: (N, t*t, D) queries (pre-scaled) of N tiles of one image; xy: (N, t*t, 2) their
        positions on this level; dst: (rows, tw, t, t, 2r+1[ox], 2r+1[oy]) with N = rows*tw."""
        n, tt, _ = q.shape
        base = torch.floor(xy)
        frac = (xy - base).reshape(*dst.shape[:4], 2, 1, 1)
        v = target.read(q, base.long(), image)  # (N, t*t, K[x], K[y]) in q's dtype
        v = v.to(dst.dtype).reshape(*dst.shape[:4], *v.shape[-2:])
        # Separable bilinear blend of the integer neighbours; zeros outside come with v.
        vy = torch.lerp(v[..., :-1], v[..., 1:], frac[..., 1, :, :])  # (.., K[x], K-1[oy])
        if torch.is_grad_enabled() and vy.requires_grad:  # out= does not record a backward
            dst.copy_(torch.lerp(vy[..., :-1, :], vy[..., 1:, :], frac[..., 0, :, :]))
        else:
            torch.lerp(vy[..., :-1, :], vy[..., 1:, :], frac[..., 0, :, :], out=dst)


class _WholeMap:
    """A small target level read whole: every query against every target pixel, one GEMM."""

    def __init__(self, fmap: torch.Tensor, radius: int) -> None:
        b, d, h, w = fmap.shape
        self.radius, self.k, self.h, self.w = radius, 2 * radius + 2, h, w
        # One zero pixel after the map: reads outside it take its (zero) dot products.
        self.maps = F.pad(fmap.reshape(b, d, h * w), (0, 1))  # (B, D, M + 1)

    def bytes_per_tile(self, queries: int, d: int, itemsize: int) -> int:
        return queries * (self.h * self.w + 1) * itemsize  # the tile's rows of the products

    def read(self, q: torch.Tensor, base: torch.Tensor, image: int) -> torch.Tensor:
        """(N, Q, D) queries, (N, Q, 2) integer positions -> (N, Q, K[x], K[y]) dot products
        with the integer neighbours base + (-r..r+1), zero outside the map."""
        n, tt, d = q.shape
        k = self.k
        prods = torch.mm(q.reshape(n * tt, d), self.maps[image]).reshape(n, tt, -1)  # (N, Q, M)
        steps = torch.arange(-self.radius, self.radius + 2, device=q.device)
        outside = self.h * self.w  # the zero pixel; any index past it is clamped to it
        xs = base[..., 0:1] + steps  # (N, Q, K)
        ys = base[..., 1:2] + steps
        xs = torch.where((xs >= 0) & (xs < self.w), xs, outside)
        ys = torch.where((ys >= 0) & (ys < self.h), ys * self.w, outside)
        idx = (xs.unsqueeze(-1) + ys.unsqueeze(-2)).clamp_(max=outside)  # (N, Q, K[x], K[y])
        return prods.gather(2, idx.reshape(n, tt, k * k)).reshape(n, tt, k, k)


class _Boxes:
    """A zero-padded channels-last target level read as S x S boxes, one per tile of
    queries (rows of S pixels are contiguous), or as single (2r+2)^2 windows."""

    def __init__(self, fmap: torch.Tensor, radius: int, side: int) -> None:
        b, d, h, w = fmap.shape
        self.k, self.radius, self.side, self.d = 2 * radius + 2, radius, side, d
        self.pad = self.k  # every clamped window stays inside the padding
        self.h, self.w, self.hp, self.wp = h, w, h + 2 * self.pad, w + 2 * self.pad
        padded = F.pad(fmap, (self.pad,) * 4).permute(0, 2, 3, 1).contiguous()  # (B, Hp, Wp, D)
        flat = padded.reshape(-1)
        pixels = flat.numel() // d
        self.box_rows = torch.as_strided(flat, (pixels - side + 1, side * d), (d, 1))
        self.win_rows = torch.as_strided(flat, (pixels - self.k + 1, self.k * d), (d, 1))

    def bytes_per_tile(self, queries: int, d: int, itemsize: int) -> int:
        return (queries + d) * self.side ** 2 * itemsize  # the tile's products and box

    def read(self, q: torch.Tensor, base: torch.Tensor, image: int) -> torch.Tensor:
        """(N, Q, D) queries of N tiles, (N, Q, 2) integer positions -> (N, Q, K[x], K[y])."""
        n, tt, _ = q.shape
        k, side = self.k, self.side
        start = self._window_starts(base)  # (N, Q, 2)
        anchor = self._anchors(start)  # (N, 2)
        local = start - anchor.unsqueeze(1)  # window corners inside the box
        fits = ((local >= 0) & (local <= side - k)).all(-1)  # (N, Q)
        local = local.clamp(0, side - k)
        offset = image * self.hp * self.wp
        steps = torch.arange(side, device=q.device)
        rows = offset + (anchor[:, 1:2] + steps) * self.wp + anchor[:, 0:1]  # (N, S)
        boxes = self.box_rows[rows.reshape(-1)].reshape(n, side * side, self.d)  # [y, x]
        prods = torch.bmm(q, boxes.transpose(1, 2))  # (N, Q, S*S)
        steps = torch.arange(k, device=q.device)
        window = (steps.unsqueeze(-1) + steps * side).reshape(-1)  # (K[x] K[y],) in the box
        corner = local[..., 0:1] + local[..., 1:2] * side  # (N, Q, 1)
        v = prods.gather(2, corner + window)
        misses = (~fits).nonzero()
        if misses.numel():
            i, j = misses[:, 0], misses[:, 1]
            corner = start[i, j]  # (M, 2)
            wrows = offset + (corner[:, 1:2] + steps) * self.wp + corner[:, 0:1]  # (M, K[y])
            feats = self.win_rows[wrows.reshape(-1)].reshape(-1, k, k, self.d)  # [y, x]
            dots = torch.bmm(feats.transpose(1, 2).reshape(-1, k * k, self.d),
                             q[i, j].unsqueeze(-1))  # (M, K[x] K[y], 1)
            v = v.index_put((i, j), dots.squeeze(-1))
        return v.reshape(n, tt, k, k)

    def _window_starts(self, base: torch.Tensor) -> torch.Tensor:
        """Integer positions (x, y) -> the corners of their windows (offsets -r..r+1) on the
        padded map. Windows entirely outside the map read zeros either way, so clamping is
        exact."""
        r = self.radius
        x = base[..., 0].clamp(-(r + 2), self.w + r) - r + self.pad
        y = base[..., 1].clamp(-(r + 2), self.h + r) - r + self.pad
        return torch.stack([x, y], dim=-1)

    def _anchors(self, start: torch.Tensor) -> torch.Tensor:
        """(N, Q, 2) window corners of N tiles -> (N, 2) box corners: every window of the
        tile inside the box where they fit in one, else a box centred on the median window."""
        room = self.side - self.k
        lo = start.amax(dim=1) - room
        hi = start.amin(dim=1)
        centred = start.median(dim=1).values - room // 2
        anchor = torch.where(lo <= hi, torch.minimum(torch.maximum(centred, lo), hi), centred)
        limit = torch.tensor([self.wp - self.side, self.hp - self.side], device=start.device)
        return torch.minimum(anchor.clamp(min=0), limit)


def _tile_padding(h: int, w: int, t: int) -> Tuple[int, int, int, int]:
    return (0, -w % t, 0, -h % t)


def _tiles(x: torch.Tensor, t: int) -> torch.Tensor:
    """(B, C, h, w) -> (B * ceil(h/t) * ceil(w/t), t*t, C): row-major tiles, zero-padded."""
    b, c, h, w = x.shape
    x = F.pad(x, _tile_padding(h, w, t))
    th, tw = x.shape[2] // t, x.shape[3] // t
    x = x.reshape(b, c, th, t, tw, t).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b * th * tw, t * t, c)


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
    """'dense', 'ondemand' or 'tiled' for B pairs of (h, w) feature maps: 'auto' takes the
    dense volume while it fits the plan's budget, else the plan's `lookup`."""
    if mode not in CORR_MODES:
        raise ValueError(f"corr_mode must be one of {CORR_MODES}, got {mode!r}")
    if mode != "auto":
        return mode
    if plan.dense_float32:
        itemsize = max(itemsize, 4)
    return "dense" if dense_volume_bytes(b, h, w, itemsize) <= plan.dense_budget_bytes else plan.lookup


def build_corr(fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int,
               mode: CorrMode = "auto", plan: ExecutionPlan = CPU_PLAN):
    """Pick the correlation implementation for this pair of (B, D, h, w) feature maps."""
    b, _, h, w = fmap0.shape
    mode = resolve_mode(mode, b, h, w, fmap0.element_size(), plan)
    if mode == "tiled" and capturing_a_graph():
        # The tiled lookup sizes its work from the data on the host: a traced, exported or
        # compiled graph would freeze one frame's choices. The on-demand lookup has the
        # same numbers and no data-dependent shapes.
        mode = "ondemand"
    if mode == "dense":
        # The products in the features' dtype (bf16 matrix units, float32 sums); a plan with
        # dense_float32 converts each level to float32 once, where grid_sample under
        # autocast would convert the whole volume at every lookup.
        read = torch.float32 if plan.dense_float32 and fmap0.element_size() < 4 else None
        # Kept buffers only within the budget: an explicit 'dense' on large frames would
        # hold gigabytes after the call.
        itemsize = 4 if read is not None else fmap0.element_size()
        keep = (plan.keep_volume
                and dense_volume_bytes(b, h, w, itemsize) <= plan.dense_budget_bytes)
        return DenseCorr(fmap0, fmap1, levels, radius, plan.pooled_features, read, keep)
    if mode == "tiled":
        return TiledCorr(fmap0, fmap1, levels, radius, plan.gather_chunk_bytes)
    return OnDemandCorr(fmap0, fmap1, levels, radius, plan.gather_chunk_bytes)

