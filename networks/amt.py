"""AMT: All-Pairs Multi-Field Transforms for frame interpolation; S, L and G are settings of one class."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, ContextManager, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from networks.blocks.corr import CORR_MODES, CorrMode, build_corr
from networks.blocks.decoders import FirstDecoder, IntermediateDecoder, MultiFieldDecoder
from networks.blocks.encoders import ContextPyramid, CorrEncoder
from networks.blocks.layers import Conv2d, PReLU, channels_last
from networks.blocks.ops import (capturing_a_graph, coords_grid, resize, resize_rows, row_bands,
                                 source_rows, warp)
from networks.blocks.update import UpdateBlock
from networks.plan import CPU_PLAN, ExecutionPlan, free_memory_bytes, plan_for


@dataclass(frozen=True)
class Variant:
    channels: Tuple[int, int, int, int]   # context pyramid c1..c4
    skip: int                             # ResBlock skip channels
    corr_encoder: str                     # 'small' | 'basic' | 'large'
    corr_dim: int                         # correlation feature dimension D
    corr_dims: Tuple[int, ...]            # update block: convc1 [, convc2] widths
    flow_dim: int
    fc_dim: int
    hidden: int
    num_flows: int
    comb_kernel: int
    first_kernel: int
    high_res_updates: bool                # AMT-G: extra full-resolution updates at levels 3, 2


VARIANTS: Dict[str, Variant] = {
    "AMT-S": Variant(channels=(20, 32, 44, 56), skip=20, corr_encoder="small", corr_dim=84,
                     corr_dims=(64,), flow_dim=20, fc_dim=68, hidden=76, num_flows=3,
                     comb_kernel=3, first_kernel=3, high_res_updates=False),
    "AMT-L": Variant(channels=(48, 64, 72, 128), skip=48, corr_encoder="basic", corr_dim=128,
                     corr_dims=(256, 160), flow_dim=48, fc_dim=124, hidden=128, num_flows=5,
                     comb_kernel=7, first_kernel=7, high_res_updates=False),
    "AMT-G": Variant(channels=(84, 96, 112, 128), skip=84, corr_encoder="large", corr_dim=128,
                     corr_dims=(256, 192), flow_dim=64, fc_dim=188, hidden=192, num_flows=5,
                     comb_kernel=7, first_kernel=7, high_res_updates=True),
}


def canonical_variant(name: str) -> str:
    """'S', 'amt-s', 'AMT_S', 'networks.AMT-S.Model' -> 'AMT-S'."""
    key = str(name).strip()
    for prefix in ("networks.",):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = key.split(".")[0].upper().replace("_", "-")
    if not key.startswith("AMT-"):
        key = "AMT-" + key
    if key not in VARIANTS:
        raise ValueError(f"unknown AMT variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return key


@dataclass
class PairFeatures:
    """What `AMT.encode` computes once per frame pair (all independent of t)."""
    img0: torch.Tensor          # (B, 3, H, W) mean-subtracted, full resolution
    img1: torch.Tensor
    mean: torch.Tensor          # (B, 1, 1, 1)
    f0: List[torch.Tensor]      # context pyramid of img0 at 1/2 .. 1/16 (network resolution)
    f1: List[torch.Tensor]
    corr_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    coord: torch.Tensor         # (B, 2, h, w) pixel grid at 1/8
    scale_factor: float
    plan: ExecutionPlan = CPU_PLAN  # how decode bands the tail
    # (B, E, H, W) channels after the colour (alpha), full resolution, in [0, 1]: warped with
    # the colour's final flows and masks (None: colour only)
    extra0: Optional[torch.Tensor] = None
    extra1: Optional[torch.Tensor] = None


def _blend(img0: torch.Tensor, img1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor,
           mask: torch.Tensor, k: int, top: int) -> torch.Tensor:
    """Field k's candidate before its residual: m * warp0 + (1 - m) * warp1 in one pass, with
    flows (B, 2N, h, W), masks (B, N, h, W) for rows [top, top + h).  -> (B, C, h, W)"""
    warped0 = warp(img0, flow0[:, 2 * k:2 * k + 2], top)
    return torch.lerp(warp(img1, flow1[:, 2 * k:2 * k + 2], top), warped0,
                      mask[:, k:k + 1].to(warped0.dtype))


class AMT(nn.Module):
    """One AMT network. `forward(img0, img1, embt, scale_factor)` -> {'imgt_pred', ...}.

    arbitrary_time: the weights were trained for any t in (0, 1) (the GoPro recipe) rather
    than for t = 0.5 only (Vimeo90K). The network computes the same either way; inference
    reads it to choose between decoding at t and recursive halving.
    """

    def __init__(self, variant: str = "AMT-S", corr_radius: int = 3, corr_lvls: int = 4,
                 num_flows: Optional[int] = None, corr_mode: CorrMode = "auto",
                 arbitrary_time: bool = False) -> None:
        super().__init__()
        self.variant = canonical_variant(variant)
        v = VARIANTS[self.variant]
        if num_flows is not None and num_flows != v.num_flows:
            raise ValueError(f"{self.variant} has num_flows={v.num_flows}, config says {num_flows}")
        if not isinstance(arbitrary_time, bool):
            raise ValueError(f"arbitrary_time must be true or false, got {arbitrary_time!r}")
        self.arbitrary_time = arbitrary_time
        self.radius, self.levels, self.num_flows = corr_radius, corr_lvls, v.num_flows
        self.corr_mode = corr_mode
        # None: each pair gets plan_for(its device, the free memory, its size); set a plan to
        # fix the choices (tests, benchmarks).
        self.plan: Optional[ExecutionPlan] = None
        c1, c2, c3, c4 = v.channels
        corr_channels = 2 * corr_lvls * (2 * corr_radius + 1) ** 2

        def update(cdim: int, scale: Optional[int]) -> UpdateBlock:
            return UpdateBlock(cdim, v.hidden, v.flow_dim, v.corr_dims, v.fc_dim, corr_channels, scale)

        self.feat_encoder = CorrEncoder(v.corr_encoder, v.corr_dim)
        self.encoder = ContextPyramid(v.channels, v.first_kernel)
        self.decoder4 = FirstDecoder(c4, c3, v.skip)
        self.decoder3 = IntermediateDecoder(c3, c2, v.skip)
        self.decoder2 = IntermediateDecoder(c2, c1, v.skip)
        self.decoder1 = MultiFieldDecoder(c1, v.skip, v.num_flows)
        self.update4 = update(c3, None)
        if v.high_res_updates:
            self.update3_low, self.update2_low = update(c2, 2), update(c1, 4)
            self.update3_high, self.update2_high = update(c2, None), update(c1, None)
        else:
            self.update3, self.update2 = update(c2, 2), update(c1, 4)
        n, k = v.num_flows, v.comb_kernel
        self.comb_block = nn.Sequential(Conv2d(3 * n, 6 * n, k, 1, k // 2), PReLU(6 * n),
                                        Conv2d(6 * n, 3, k, 1, k // 2))

    @property
    def corr_mode(self) -> str:
        return self._corr_mode

    @corr_mode.setter
    def corr_mode(self, mode: str) -> None:
        if mode not in CORR_MODES:
            raise ValueError(f"corr_mode must be one of {CORR_MODES}, got {mode!r}")
        self._corr_mode = mode

    def _level_updates(self, level: int) -> List[Tuple[nn.Module, bool]]:
        """Update blocks applied after decoder `level`, each with 'needs the high-res corr'."""
        if level == 4:
            return [(self.update4, False)]
        if VARIANTS[self.variant].high_res_updates:
            return [(getattr(self, f"update{level}_low"), False),
                    (getattr(self, f"update{level}_high"), True)]
        return [(getattr(self, f"update{level}"), False)]

    def _update(self, level: int, ft: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor,
                corr_fn, coord: torch.Tensor, embt: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d = 2 ** (4 - level)  # level 4 lives at 1/8, level 3 at 1/4, level 2 at 1/2
        corr = None
        for block, high_res in self._level_updates(level):
            if high_res:
                flow = torch.cat([flow0, flow1], dim=1)
                delta_ft, delta_flow = block(ft, flow, resize(corr, float(d)))
            else:
                f0 = flow0 if d == 1 else resize(flow0, 1.0 / d) * (1.0 / d)
                f1 = flow1 if d == 1 else resize(flow1, 1.0 / d) * (1.0 / d)
                # sic: flow1 pairs with 1/t and flow0 with 1/(1-t); the checkpoints expect it.
                corr = corr_fn(coord + f1 / embt, coord + f0 / (1 - embt))
                delta_ft, delta_flow = block(ft, torch.cat([f0, f1], dim=1), corr)
            ft = ft + delta_ft
            flow0 = flow0 + delta_flow[:, 0:2]
            flow1 = flow1 + delta_flow[:, 2:4]
        return ft, flow0, flow1

    def execution_plan(self, img0: torch.Tensor, scale_factor: float = 1.0) -> ExecutionPlan:
        """`self.plan`, or the plan for frames like img0 (B, 3, H, W) on their device now
        (the correlation's itemsize is autocast's when autocast is on)."""
        if self.plan is not None:
            return self.plan
        device = img0.device
        itemsize = img0.element_size()
        if device.type in ("cpu", "cuda") and torch.is_autocast_enabled(device.type):
            itemsize = torch.empty((), dtype=torch.get_autocast_dtype(device.type)).element_size()
        v = VARIANTS[self.variant]
        return plan_for(device.type, free_memory_bytes(device), tuple(img0.shape[-2:]), img0.shape[0],
                        itemsize, scale_factor, v.num_flows, v.channels[0],
                        training=self.training and torch.is_grad_enabled())

    def encode(self, img0: torch.Tensor, img1: torch.Tensor, scale_factor: float = 1.0,
               plan: Optional[ExecutionPlan] = None) -> PairFeatures:
        """Everything that does not depend on t: run once per frame pair, decode at many t.
        img0, img1: (B, 3 + E, H, W); channels after the first 3 (alpha) play no part in the
        motion and are carried to the output by it. plan: how to execute (None:
        `execution_plan(img0, scale_factor)`)."""
        plan = plan if plan is not None else self.execution_plan(img0, scale_factor)
        extra0 = extra1 = None
        if img0.shape[1] > 3:
            img0, extra0 = img0[:, :3], img0[:, 3:]
            img1, extra1 = img1[:, :3], img1[:, 3:]
        b, _, full_h, full_w = img0.shape
        mean = torch.cat([img0, img1], dim=2).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        img0, img1 = img0 - mean, img1 - mean
        net0, net1 = (img0, img1) if scale_factor == 1 else (resize(img0, scale_factor),
                                                             resize(img1, scale_factor))
        self._check_trainable_size(net0.shape[-2:])
        with self._layout(plan):
            # Instance norm is per sample, so encoding the frames one by one gives the same
            # features as a stacked batch with half the peak memory.
            fmap0, fmap1 = self.feat_encoder(net0), self.feat_encoder(net1)
            corr_fn = build_corr(fmap0, fmap1, self.levels, self.radius, self.corr_mode, plan)
            coord = coords_grid(b, fmap0.shape[2], fmap0.shape[3], fmap0.device)
            return PairFeatures(img0, img1, mean, self.encoder(net0), self.encoder(net1),
                                corr_fn, coord, scale_factor, plan, extra0, extra1)

    @staticmethod
    def _layout(plan: ExecutionPlan) -> ContextManager[None]:
        """The plan's layer layout. Nothing is entered while a graph is captured (a trace, an
        export, torch.compile): the layers then run NCHW (the switch's default), and a
        context manager that sets the switch would break torch.compile's graph."""
        return nullcontext() if capturing_a_graph() else channels_last(plan.channels_last)

    def _check_trainable_size(self, size: Sequence[int]) -> None:
        """Smaller frames leave a 1-pixel coarsest correlation level: the forward pass runs
        (as published) but PyTorch's grid_sample backward crashes the process on it."""
        smallest = 8 * 2 ** self.levels
        if self.training and torch.is_grad_enabled() and min(size) < smallest:
            raise ValueError(f"training needs frames of at least {smallest}x{smallest} at network "
                             f"resolution, got {tuple(size)}; use larger crops")

    def decode(self, feats: PairFeatures, embt: Union[torch.Tensor, float],
               fields: Optional[bool] = None) -> Dict[str, object]:
        """The t-dependent part: decoders, updates and the multi-field combine.
        fields: also return every level's flows and features (what the training losses
        read); None: in training mode only. It changes what is returned, not how the
        frame is computed."""
        fields = self.training if fields is None else fields
        with self._layout(feats.plan):
            return self._decode(feats, embt, fields)

    def _decode(self, feats: PairFeatures, embt: Union[torch.Tensor, float], fields: bool
                ) -> Dict[str, object]:
        img0 = feats.img0
        b, _, full_h, full_w = img0.shape
        embt = torch.as_tensor(embt, dtype=img0.dtype, device=img0.device).reshape(-1, 1, 1, 1)
        embt = embt.expand(b, 1, 1, 1)
        f0, f1, corr_fn, coord = feats.f0, feats.f1, feats.corr_fn, feats.coord

        flow0, flow1, ft = self.decoder4(f0[3], f1[3], embt)
        ft, flow0, flow1 = self._update(4, ft, flow0, flow1, corr_fn, coord, embt)
        flows0, flows1, fts = [flow0], [flow1], [ft]
        for level, decoder in ((3, self.decoder3), (2, self.decoder2)):
            flow0, flow1, ft = decoder(ft, f0[level - 1], f1[level - 1], flow0, flow1)
            ft, flow0, flow1 = self._update(level, ft, flow0, flow1, corr_fn, coord, embt)
            flows0.insert(0, flow0)
            flows1.insert(0, flow1)
            fts.insert(0, ft)

        imgt, flow0, flow1 = self._tail(feats, ft, flow0, flow1, keep_flows=fields)
        if not fields:
            return {"imgt_pred": imgt}
        n = self.num_flows
        return {
            "imgt_pred": imgt,
            "flow0_pred": [flow0.reshape(b, n, 2, full_h, full_w)] + flows0,
            "flow1_pred": [flow1.reshape(b, n, 2, full_h, full_w)] + flows1,
            "ft_pred": fts,
        }

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, embt: Union[torch.Tensor, float],
                scale_factor: float = 1.0, fields: Optional[bool] = None) -> Dict[str, object]:
        """img0, img1: (B, 3, H, W) in [0, 1], H and W multiples of 16 (>= 128 after scaling),
        or (B, 3 + E, H, W) with E extra channels (alpha) that follow the colour's motion;
        embt: (B, 1, 1, 1) target times. Returns {'imgt_pred': (B, 3 [+ E], H, W)}, with `fields`
        (default: in training mode) also 'flow0_pred', 'flow1_pred' (finest (B, N, 2, H, W)
        first) and 'ft_pred'."""
        return self.decode(self.encode(img0, img1, scale_factor), embt, fields)

    @property
    def _comb_halo(self) -> int:
        """Rows of context comb_block needs (two k x k convs reach k - 1; k is ample)."""
        return self.comb_block[0].kernel_size[0]

    def _tail(self, feats: PairFeatures, ft: torch.Tensor, flow0: torch.Tensor,
              flow1: torch.Tensor, keep_flows: bool
              ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """decoder1, the resize to full resolution and the combine, in row bands of about
        `feats.plan.band_pixels` pixels (None: one band, the whole frame). Exact for any band
        size; with bands no full-resolution mask or residual is ever whole, so the peak
        memory falls. ft, flow0, flow1: level-2 outputs at 1/2 network resolution.
        -> imgt (B, 3 [+ E], H, W) (the extra channels after the colour), and with keep_flows
        decoder1's full-resolution flows (B, 2N, H, W) each (else None)."""
        img0, extra = feats.img0, feats.extra0 is not None
        b, _, h, w = img0.shape
        imgt = img0.new_empty(b, 3 + (feats.extra0.shape[1] if extra else 0), h, w)
        full0 = full1 = None
        # The bands warp the whole 1/2-resolution features in float32: under autocast they
        # are cast once here, not in every band.
        halves = (feats.f0[0].float(), feats.f1[0].float())
        for top, bottom, lo, hi in row_bands(h, w, self._comb_halo, feats.plan.band_pixels):
            fields = self._fields_band(feats, halves, ft, flow0, flow1, lo, hi)
            # A band is already the tile: comb_block runs once on it, not in sub-bands.
            band = self._combine(img0, feats.img1, *fields, feats.mean, top=lo)
            keep = slice(top - lo, bottom - lo)
            imgt[:, :3, top:bottom] = band[..., keep, :]
            if extra:  # a warp reads no neighbouring rows: only the kept ones are computed
                imgt[:, 3:, top:bottom] = self._carry(feats.extra0, feats.extra1,
                                                      *(f[..., keep, :] for f in fields[:3]), top)
            if keep_flows:
                if full0 is None:
                    full0 = fields[0].new_empty(b, fields[0].shape[1], h, w)
                    full1 = fields[1].new_empty(b, fields[1].shape[1], h, w)
                full0[..., top:bottom, :] = fields[0][..., keep, :]
                full1[..., top:bottom, :] = fields[1][..., keep, :]
        return imgt, full0, full1

    def _fields_band(self, feats: PairFeatures, halves: Tuple[torch.Tensor, torch.Tensor],
                     ft: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor, lo: int, hi: int
                     ) -> Tuple[torch.Tensor, ...]:
        """decoder1's flows, masks and residuals for full-resolution rows [lo, hi); halves:
        the float32 1/2-resolution features of both frames."""
        args = (ft, *halves, flow0, flow1)
        s = feats.scale_factor
        if s == 1:
            return self.decoder1(*args, lo, hi)
        size, net_h = tuple(feats.img0.shape[-2:]), 2 * ft.shape[-2]
        a, b = source_rows(net_h, size[0], lo, hi)
        fl0, fl1, mask, res = resize_rows(self.decoder1(*args, a, b), a, size, net_h, lo, hi)
        return fl0 * (1.0 / s), fl1 * (1.0 / s), mask, res

    def _combine(self, img0: torch.Tensor, img1: torch.Tensor, flow0: torch.Tensor,
                 flow1: torch.Tensor, mask: torch.Tensor, res: torch.Tensor, mean: torch.Tensor,
                 top: int = 0) -> torch.Tensor:
        """Blend the N warped candidates and refine them with comb_block.

        flow0 .. res cover rows [top, top + h) of the frames.  -> (B, 3, h, W)
        """
        b, _, h, w = flow0.shape
        n = self.num_flows
        cands = []  # one candidate at a time keeps full-resolution temporaries small
        for k in range(n):
            cands.append(_blend(img0, img1, flow0, flow1, mask, k, top)
                         + res[:, 3 * k:3 * k + 3] + mean)
        stacked = torch.cat(cands, dim=1)  # (B, 3N, H, W)
        del cands
        refined = self.comb_block(stacked)
        imgt = stacked.reshape(b, n, 3, h, w).mean(dim=1) + refined
        return imgt.clamp(0, 1)

    def _carry(self, extra0: torch.Tensor, extra1: torch.Tensor, flow0: torch.Tensor,
               flow1: torch.Tensor, mask: torch.Tensor, top: int = 0) -> torch.Tensor:
        """Extra channels (alpha) moved as the colour is: each field's mask blends the two
        warps, averaged over the N fields. No residual and no comb_block: both were trained
        on colour and would smear an alpha edge. extra0, extra1: (B, E, H, W); flow0 .. mask
        cover rows [top, top + h).  -> (B, E, h, W) in [0, 1]"""
        out = None
        for k in range(self.num_flows):
            cand = _blend(extra0, extra1, flow0, flow1, mask, k, top)
            out = cand if out is None else out + cand
        return (out / self.num_flows).clamp(0, 1)
