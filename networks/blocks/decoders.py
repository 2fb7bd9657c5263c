"""AMT decoders: the intermediate (flow + feature) decoders and the multi-field decoder."""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn

from networks.blocks.encoders import conv_prelu
from networks.blocks.layers import Conv2d, ConvTranspose2d, PReLU, cat_channels
from networks.blocks.ops import capturing_a_graph, resize, warp

# Rows of context each band of a decoder needs: six 3x3 convs and the 4x4 transposed conv.
DECODER_HALO = 8


def _nchw(out: torch.Tensor) -> torch.Tensor:
    """A decoder's output in NCHW: its flows, masks and residuals are read channel by channel
    (warp grids, blends), which is slow on the slices of a channels-last tensor."""
    return out.contiguous()


class ResBlock(nn.Module):
    """Residual block whose last `skip` channels get an extra conv+PReLU after conv1 and conv3."""

    def __init__(self, c: int, skip: int) -> None:
        super().__init__()
        self.skip = skip
        self.conv1 = conv_prelu(c, c)
        self.conv2 = conv_prelu(skip, skip)
        self.conv3 = conv_prelu(c, c)
        self.conv4 = conv_prelu(skip, skip)
        self.conv5 = Conv2d(c, c, 3, 1, 1)
        self.prelu = PReLU(c)

    def _refine_tail(self, y: torch.Tensor, conv: nn.Module) -> torch.Tensor:
        s = self.skip
        # With autograd y's channels are saved for the backward pass; a captured graph
        # (a trace checks itself under no_grad) must not depend on the grad mode.
        if torch.is_grad_enabled() or capturing_a_graph():
            return torch.cat([y[:, :-s], conv(y[:, -s:])], dim=1)
        y[:, -s:] = conv(y[:, -s:])  # y is this block's own temporary
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._refine_tail(self.conv1(x), self.conv2)
        y = self._refine_tail(self.conv3(y), self.conv4)
        return self.prelu(x + self.conv5(y))


def decoder_block(cin: int, c: int, cout: int, skip: int) -> nn.Sequential:
    """conv3x3+PReLU -> ResBlock -> 2x transposed conv (keys convblock.0/1/2)."""
    return nn.Sequential(conv_prelu(cin, c), ResBlock(c, skip), ConvTranspose2d(c, cout, 4, 2, 1))


class FirstDecoder(nn.Module):
    """Decoder 4: from both 1/16 features and t to flows and feature at 1/8."""

    def __init__(self, c: int, c_next: int, skip: int) -> None:
        super().__init__()
        self.convblock = decoder_block(2 * c + 1, 2 * c, c_next + 4, skip)

    def forward(self, f0: torch.Tensor, f1: torch.Tensor, embt: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, _, h, w = f0.shape
        t = embt.expand(b, 1, h, w).to(f0.dtype)
        out = _nchw(self.convblock(cat_channels([f0, f1, t])))
        # Flows are float32 even under autocast; every later flow inherits it by promotion.
        return out[:, 0:2].float(), out[:, 2:4].float(), out[:, 4:]  # (B, 2, 2h, 2w) x2, ft


class IntermediateDecoder(nn.Module):
    """Decoders 3 and 2: warp both features, refine flows (residual on 2x-upsampled) and ft."""

    def __init__(self, c: int, c_next: int, skip: int) -> None:
        super().__init__()
        self.convblock = decoder_block(3 * c + 4, 3 * c, c_next + 4, skip)

    def forward(self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor,
                flow0: torch.Tensor, flow1: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = _nchw(self.convblock(cat_channels([ft, warp(f0, flow0), warp(f1, flow1), flow0,
                                                  flow1])))
        flow0 = out[:, 0:2] + 2.0 * resize(flow0, 2.0)
        flow1 = out[:, 2:4] + 2.0 * resize(flow1, 2.0)
        return flow0, flow1, out[:, 4:]


class MultiFieldDecoder(nn.Module):
    """Decoder 1: N flow pairs, N occlusion masks and N RGB residuals at full resolution."""

    def __init__(self, c: int, skip: int, num_flows: int) -> None:
        super().__init__()
        self.num_flows = num_flows
        self.convblock = decoder_block(3 * c + 4, 3 * c, 8 * num_flows, skip)

    def _features(self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor,
                  flow0: torch.Tensor, flow1: torch.Tensor, top: int = 0) -> torch.Tensor:
        """The convblock's input for rows [top, top + h) of the 1/2-resolution grid, where
        ft and the flows are (B, *, h, w) and f0, f1 whole.  -> (B, 3c + 4, h, w)"""
        return cat_channels([ft, warp(f0, flow0, top), warp(f1, flow1, top), flow0, flow1])

    def forward(self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor,
                flow1: torch.Tensor, lo: int, hi: int
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flows (B, 2N, hi - lo, W) x2, masks (B, N, ...) and residuals (B, 3N, ...) for
        full-resolution rows [lo, hi) from the level-2 ft and flows (B, *, h, w) at 1/2
        resolution and the whole 1/2-resolution features f0, f1.

        Exact for any [lo, hi): the rows are computed with DECODER_HALO rows of context at
        1/2 resolution, and one more for the 2x upsampling of the flows.
        """
        h = ft.shape[-2]
        a, b = max(0, lo // 2 - DECODER_HALO - 1), min(h, (hi + 1) // 2 + DECODER_HALO + 1)
        rows = slice(a, b)
        fl0, fl1 = flow0[..., rows, :], flow1[..., rows, :]
        # No _nchw here: the head's sums write NCHW flows (their first operand's layout),
        # and the masks and residuals are read in place (copied in low precision).
        out = self.convblock(self._features(ft[..., rows, :], f0, f1, fl0, fl1, top=a))
        parts = self._head(out, fl0, fl1)
        return tuple(p[..., lo - 2 * a:hi - 2 * a, :] for p in parts)

    def _head(self, out: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor
              ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        n = self.num_flows
        parts = torch.split(out, [2 * n, 2 * n, n, 3 * n], dim=1)
        if out.dtype in (torch.bfloat16, torch.float16):
            # A low-precision channel slice of an NHWC output is slow to read (each element
            # converted on its own): one NCHW copy of each part is cheaper than the reads.
            # (A no-op on NCHW outputs; float32 slices read fast enough.)
            parts = tuple(p.contiguous() for p in parts)
        delta0, delta1, logits, res = parts
        flow0 = 2.0 * resize(flow0, 2.0).repeat(1, n, 1, 1) + delta0  # (B, 2N, H, W)
        flow1 = 2.0 * resize(flow1, 2.0).repeat(1, n, 1, 1) + delta1
        return flow0, flow1, torch.sigmoid(logits), res
