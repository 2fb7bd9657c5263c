"""The training losses of AMT: Charbonnier, Ternary (census) and multiple-flow distillation.

Each loss is built from a config entry `{name, nickname, params: {loss_weight, keys, ...}}`,
is called with the values of its `keys` in order, and returns `loss_weight * value` as a
float32 scalar (inputs are cast to float32 so that AMP never computes a loss in half precision).
"""
from __future__ import annotations

import math
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.registry import Registry

LOSSES = Registry("loss")

CHARBONNIER_EPS2 = 1e-6
CENSUS_SIZE = 7
CENSUS_BORDER = 3


class LossError(ValueError):
    """A loss configured or called with values it cannot use."""


class WeightedLoss(nn.Module):
    """Holds the weight and the names of the inputs a loss reads from the merged dict."""

    num_inputs = 2

    def __init__(self, loss_weight: float = 1.0, keys: Sequence[str] = ()) -> None:
        super().__init__()
        try:
            self.loss_weight = float(loss_weight)
        except (TypeError, ValueError):
            self.loss_weight = math.nan
        if not math.isfinite(self.loss_weight):
            raise LossError(f"{type(self).__name__}: loss_weight must be a finite number, "
                            f"got {loss_weight!r}")
        self.keys: List[str] = [str(k) for k in keys] if not isinstance(keys, str) else [keys]
        if len(self.keys) != self.num_inputs:
            raise LossError(f"{type(self).__name__} reads {self.num_inputs} inputs, but keys is "
                            f"{list(keys)!r}")

    def forward(self, *inputs) -> torch.Tensor:
        return self.loss_weight * self.value(*inputs)

    def value(self, *inputs) -> torch.Tensor:
        raise NotImplementedError


def _check_same_shape(name: str, pred: torch.Tensor, gt: torch.Tensor) -> None:
    if pred.shape != gt.shape:
        raise LossError(f"{name}: prediction {tuple(pred.shape)} and truth {tuple(gt.shape)} "
                        "differ in shape")


@LOSSES.register("losses.loss.CharbonnierLoss")
class CharbonnierLoss(WeightedLoss):
    """mean(sqrt((pred - gt)^2 + 1e-6)) over every element."""

    def value(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        # pred, gt: (B, C, H, W)
        _check_same_shape("CharbonnierLoss", pred, gt)
        diff = pred.float() - gt.float()
        return torch.sqrt(diff * diff + CHARBONNIER_EPS2).mean()


@LOSSES.register("losses.loss.LogMSELoss")
class LogMSELoss(WeightedLoss):
    """mean over the batch of ln(1 + mse_b / eps), mse_b being one sample's mean squared error.

    It is ln(mse_b + eps) - ln(eps): zero for a perfect prediction and, up to constants, minus
    the mean per-sample PSNR that benchmarks report. Each sample counts by its own error, so
    the easy, nearly still ones (whose last fraction of a dB a pixel-mean loss hardly rewards)
    weigh as much as the hard ones; eps caps that weight at 50 dB.
    """

    def __init__(self, loss_weight: float = 1.0, keys: Sequence[str] = (), eps: float = 1e-5) -> None:
        super().__init__(loss_weight, keys)
        self.eps = float(eps)
        if not self.eps > 0:
            raise LossError(f"LogMSELoss: eps must be > 0, got {eps!r}")

    def value(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        # pred, gt: (B, C, H, W)
        _check_same_shape("LogMSELoss", pred, gt)
        mse = (pred.float() - gt.float()).square().flatten(1).mean(dim=1)  # (B,)
        return torch.log1p(mse / self.eps).mean()


def census_transform(img: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 49, H, W): normalised differences of each 7x7 neighbour to the centre
    on the channel-mean grey image, zero padded."""
    grey = img.mean(dim=1, keepdim=True)
    # the 49 one-hot kernels pick each neighbour; conv2d does all offsets in one pass
    kernel = torch.eye(CENSUS_SIZE * CENSUS_SIZE, dtype=grey.dtype, device=grey.device)
    kernel = kernel.reshape(-1, 1, CENSUS_SIZE, CENSUS_SIZE)
    neighbours = F.conv2d(grey, kernel, padding=CENSUS_SIZE // 2)
    d = neighbours - grey
    return d / torch.sqrt(0.81 + d * d)


def border_mask(shape: torch.Size, border: int, device: torch.device) -> torch.Tensor:
    """(B, 1, H, W) ones with a zero frame `border` pixels wide."""
    b, _, h, w = shape
    mask = torch.zeros(b, 1, h, w, device=device)
    mask[:, :, border:h - border, border:w - border] = 1
    return mask


@LOSSES.register("losses.loss.TernaryLoss")
class TernaryLoss(WeightedLoss):
    """Census-transform distance (7x7 window), zero on a 3-pixel border, mean over pixels."""

    def value(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        # pred, gt: (B, 3, H, W)
        _check_same_shape("TernaryLoss", pred, gt)
        if pred.dim() != 4 or pred.shape[1] != 3:
            raise LossError(f"TernaryLoss needs (B, 3, H, W) images, got {tuple(pred.shape)}")
        x = census_transform(pred.float()) - census_transform(gt.float()).detach()
        x2 = x * x
        dist = (x2 / (0.1 + x2)).mean(dim=1, keepdim=True)  # (B, 1, H, W)
        return (dist * border_mask(pred.shape, CENSUS_BORDER, pred.device)).mean()


def robust_weight(finest: torch.Tensor, gt: torch.Tensor, beta: float) -> torch.Tensor:
    """exp(-beta * worst end-point error of the N candidate flows): (B, N, 2, H, W), (B, 2, H, W)
    -> (B, 1, H, W). The pseudo truth is trusted less where even the best-fitting of the model's
    flows disagrees with it strongly."""
    sq = (finest.detach().float() - gt.unsqueeze(1)).square().sum(dim=2)  # (B, N, H, W)
    epe = sq.max(dim=1, keepdim=True).values.sqrt()
    return torch.exp(-beta * epe)


def adaptive_charbonnier(pred: torch.Tensor, gt: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mean(((pred - gt)^2 + eps^2)^(w/2)) with eps = 10^-((10 w - 1) / 3), per pixel."""
    eps = torch.pow(10.0, -(10.0 * weight - 1.0) / 3.0)
    return torch.pow((pred - gt).square() + eps * eps, weight / 2.0).mean()


@LOSSES.register("losses.loss.MultipleFlowLoss")
class MultipleFlowLoss(WeightedLoss):
    """Distils the pseudo ground-truth flows into the coarse levels' flows, with a per-pixel
    robust weight from the finest multi-field prediction (sum of 3 levels x 2 directions)."""

    num_inputs = 3

    def __init__(self, loss_weight: float = 1.0, keys: Sequence[str] = (), beta: float = 0.3) -> None:
        super().__init__(loss_weight, keys)
        self.beta = float(beta)

    def value(self, flow0_pred: Sequence[torch.Tensor], flow1_pred: Sequence[torch.Tensor],
              flow: torch.Tensor) -> torch.Tensor:
        # flow0_pred, flow1_pred: [(B, N, 2, H, W), (B, 2, H/2, W/2), ...]; flow: (B, 4, H, W)
        if flow.dim() != 4 or flow.shape[1] != 4:
            raise LossError(f"MultipleFlowLoss needs a (B, 4, H, W) flow, got {tuple(flow.shape)}")
        if len(flow0_pred) < 2 or len(flow0_pred) != len(flow1_pred):
            raise LossError("MultipleFlowLoss needs the finest and at least one coarser flow "
                            "per direction (training-mode model outputs)")
        gt = flow.float()
        total = gt.new_zeros(())
        for preds, side in ((flow0_pred, gt[:, 0:2]), (flow1_pred, gt[:, 2:4])):
            if preds[0].dim() != 5 or preds[0].shape[-2:] != side.shape[-2:]:
                raise LossError(f"MultipleFlowLoss: finest flow {tuple(preds[0].shape)} does not "
                                f"match the (B, N, 2, H, W) layout of the {tuple(side.shape[-2:])} truth")
            weight = robust_weight(preds[0], side, self.beta)
            for level in range(1, len(preds)):
                scale = 2 ** level
                up = F.interpolate(preds[level].float(), scale_factor=scale, mode="bilinear",
                                   align_corners=False) * scale
                total = total + adaptive_charbonnier(up, side, weight)
        return total
