"""The two encoders of AMT: the RAFT-style correlation encoder and the context pyramid."""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn as nn

from networks.blocks.layers import Conv2d, InstanceNorm2d, PReLU


def conv_prelu(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(Conv2d(cin, cout, k, stride, k // 2), PReLU(cout))


def _norm(c: int) -> nn.Module:
    # The checkpoints hold no norm parameters: plain instance norm, PyTorch defaults.
    return InstanceNorm2d(c)


def _shortcut(cin: int, cout: int, stride: int) -> Optional[nn.Module]:
    """A 1x1 strided conv and norm where the block downsamples; identity (None) otherwise."""
    return nn.Sequential(Conv2d(cin, cout, 1, stride), _norm(cout)) if stride != 1 else None


class ResidualBlock(nn.Module):
    """Two 3x3 convs (basic/large encoders); a 1x1 strided shortcut when downsampling."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = Conv2d(cout, cout, 3, 1, 1)
        self.norm1, self.norm2 = _norm(cout), _norm(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, cout, H/s, W/s)
        return self.relu(shortcut + y)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 with a quarter-width middle (small encoder)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        mid = cout // 4
        self.conv1 = Conv2d(cin, mid, 1)
        self.conv2 = Conv2d(mid, mid, 3, stride, 1)
        self.conv3 = Conv2d(mid, cout, 1)
        self.norm1, self.norm2, self.norm3 = _norm(mid), _norm(mid), _norm(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        y = self.relu(self.norm3(self.conv3(y)))
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, cout, H/s, W/s)
        return self.relu(shortcut + y)


# name -> (block, stem width, [(stage key, width, stride), ...])
CORR_ENCODERS = {
    "small": (BottleneckBlock, 32, [("layer1", 32, 1), ("layer2", 64, 2), ("layer3", 96, 2)]),
    "basic": (ResidualBlock, 64, [("layer1", 64, 1), ("layer2", 72, 2), ("layer3", 128, 2)]),
    "large": (ResidualBlock, 64, [("layer1", 64, 1), ("layer2", 112, 2), ("layer3", 160, 2),
                                  ("layer3_2", 160, 1)]),
}


class CorrEncoder(nn.Module):
    """RAFT-style feature encoder to 1/8 resolution for the all-pairs correlation."""

    def __init__(self, kind: str, out_dim: int) -> None:
        super().__init__()
        block, stem, stages = CORR_ENCODERS[kind]
        self.conv1 = Conv2d(3, stem, 7, 2, 3)
        self.norm1 = _norm(stem)
        self.relu1 = nn.ReLU(inplace=True)
        cin = stem
        for key, width, stride in stages:
            setattr(self, key, nn.Sequential(block(cin, width, stride), block(width, width, 1)))
            cin = width
        self.stage_names = [key for key, _, _ in stages]
        self.conv2 = Conv2d(cin, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, D, H/8, W/8)
        x = self.relu1(self.norm1(self.conv1(x)))
        for key in self.stage_names:
            x = getattr(self, key)(x)
        return self.conv2(x)


class ContextPyramid(nn.Module):
    """Four stride-2 levels of [conv + PReLU, conv3x3 + PReLU]: features at 1/2 .. 1/16."""

    def __init__(self, channels: Sequence[int], first_kernel: int) -> None:
        super().__init__()
        cin = 3
        for k, c in enumerate(channels, start=1):
            kernel = first_kernel if k == 1 else 3
            setattr(self, f"pyramid{k}", nn.Sequential(conv_prelu(cin, c, kernel, 2),
                                                       conv_prelu(c, c, 3, 1)))
            cin = c
        self.levels = len(channels)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        feats = []
        for k in range(1, self.levels + 1):
            x = getattr(self, f"pyramid{k}")(x)
            feats.append(x)
        return feats
