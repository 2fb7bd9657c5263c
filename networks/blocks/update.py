"""The AMT update block: refines flows and the intermediate feature from correlation lookups."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from networks.blocks.layers import Conv2d, cat_channels
from networks.blocks.ops import resize


def _conv_lrelu_conv(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(Conv2d(cin, hidden, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
                         Conv2d(hidden, cout, 3, 1, 1))


class UpdateBlock(nn.Module):
    """Motion encoder + conv 'GRU' + heads. `corr_dims` has one entry (small) or two (basic)."""

    def __init__(self, cdim: int, hidden: int, flow_dim: int, corr_dims: Tuple[int, ...],
                 fc_dim: int, corr_channels: int, scale: Optional[int] = None) -> None:
        super().__init__()
        self.scale = scale
        self.convc1 = Conv2d(corr_channels, corr_dims[0], 1)
        self.convc2 = Conv2d(corr_dims[0], corr_dims[1], 3, 1, 1) if len(corr_dims) > 1 else None
        self.convf1 = Conv2d(4, 2 * flow_dim, 7, 1, 3)
        self.convf2 = Conv2d(2 * flow_dim, flow_dim, 3, 1, 1)
        self.conv = Conv2d(corr_dims[-1] + flow_dim, fc_dim, 3, 1, 1)
        self.gru = _conv_lrelu_conv(fc_dim + 4 + cdim, hidden, hidden)
        self.feat_head = _conv_lrelu_conv(hidden, hidden, cdim)
        self.flow_head = _conv_lrelu_conv(hidden, hidden, 4)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, ft: torch.Tensor, flow: torch.Tensor, corr: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """ft at the level's resolution; flow (B, 4, h, w) and corr (B, 392, h, w) at 1/8 when
        the block has a scale s (ft is brought to 1/8 and the deltas back up by s)."""
        if self.scale is not None:
            ft = resize(ft, 1.0 / self.scale)
        cor = self.lrelu(self.convc1(corr))
        if self.convc2 is not None:
            cor = self.lrelu(self.convc2(cor))
        flo = self.lrelu(self.convf2(self.lrelu(self.convf1(flow))))
        x = self.lrelu(self.conv(cat_channels([cor, flo])))
        h = self.gru(cat_channels([x, flow, ft]))
        delta_ft, delta_flow = self.feat_head(h), self.flow_head(h)
        if self.scale is not None:
            delta_ft = resize(delta_ft, float(self.scale))
            delta_flow = self.scale * resize(delta_flow, float(self.scale))
        return delta_ft, delta_flow
