"""AMT as one traceable graph for exporters (ONNX): `AMTGraph(model)(img0, img1, embt)`.

The inference path chooses its correlation and its decoder-tail bands from the frame size
at run time (networks/plan.py), which a graph with dynamic H and W cannot do. The graph
therefore runs one fixed plan: the whole-frame tail, and the correlation lookup as bilinear
sampling of the features (SampledCorr), with the same numbers as the dense volume.
"""
from __future__ import annotations

import math
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from networks.amt import AMT
from networks.blocks.corr import _pool_pyramid
from networks.plan import ExecutionPlan

# The whole-frame tail: bands would slice the frame at sizes computed from H.
GRAPH_PLAN = ExecutionPlan(band_pixels=None)


class SampledCorr:
    """The dense lookup's numbers without the (h*w)^2 volume, from GridSample alone.

    The correlation is linear in each feature map, so (1) average-pooling the volume over
    fmap1's positions is correlating with pooled fmap1, and (2) bilinear sampling of the
    volume (zeros outside) at a point is the dot product of the query with fmap1 sampled
    bilinearly at that point (zero features outside). Each window offset is one GridSample
    of the D-channel map and a sum over D: memory grows with h*w, not (h*w)^2, and every
    shape in the graph follows the input's."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int) -> None:
        self.radius, self.scale = radius, 1.0 / math.sqrt(fmap0.shape[1])
        self.fmap0, self.fmap1 = fmap0, fmap1
        self.pooled0, self.pooled1 = _pool_pyramid(fmap0, levels), _pool_pyramid(fmap1, levels)

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> torch.Tensor:
        """coords0, coords1: (B, 2, h, w) -> (B, 2 * L * (2r+1)^2, h, w), as DenseCorr."""
        return torch.cat([self._lookup(self.fmap0, self.pooled1, coords0),
                          self._lookup(self.fmap1, self.pooled0, coords1)], dim=1)

    def _lookup(self, query: torch.Tensor, pyramid: List[torch.Tensor], coords: torch.Tensor
                ) -> torch.Tensor:
        r = self.radius
        k = 2 * r + 1
        b, _, h, w = query.shape
        offsets = torch.arange(-r, r + 1, device=coords.device, dtype=coords.dtype)
        out = []
        for lvl, target in enumerate(pyramid):
            hl, wl = target.shape[-2:]
            pts = coords / 2 ** lvl  # (B, 2, h, w)
            # the dense sampler's normalisation (align_corners=True), offsets added first
            gy = (2 * (pts[:, 1:2] + offsets.view(1, k, 1, 1)) / (hl - 1) - 1)  # (B, K[y], h, w)
            for ox in range(-r, r + 1):  # channel (ox + r) * K + (oy + r): x is the outer index
                gx = (2 * (pts[:, 0:1] + ox) / (wl - 1) - 1).expand(b, k, h, w)
                grid = torch.stack([gx, gy], dim=-1).reshape(b, k * h, w, 2)
                s = F.grid_sample(target, grid, mode="bilinear", padding_mode="zeros",
                                  align_corners=True)  # (B, D, K*h, w)
                dots = (s.reshape(b, -1, k, h, w) * query.unsqueeze(2)).sum(dim=1)
                out.append(dots * self.scale)  # (B, K[y], h, w)
        return torch.cat(out, dim=1)  # (B, L*(2r+1)^2, h, w)


class AMTGraph(nn.Module):
    """`model`'s inference forward at scale 1 as one graph: (img0, img1, embt) -> imgt_pred,
    img0, img1 (N, 3, H, W) in [0, 1] with H, W multiples of 16 (>= 128), embt (N, 1, 1, 1)."""

    def __init__(self, model: AMT) -> None:
        super().__init__()
        self.model = model

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, embt: torch.Tensor) -> torch.Tensor:
        m = self.model
        feats = m.encode(img0, img1, 1.0, plan=GRAPH_PLAN)
        # At scale 1 the correlation features are those of the mean-subtracted frames;
        # encode's own lookup is then unused, and the exporter prunes it from the graph.
        feats.corr_fn = SampledCorr(m.feat_encoder(feats.img0), m.feat_encoder(feats.img1),
                                    m.levels, m.radius)
        return m.decode(feats, embt, fields=False)["imgt_pred"]
