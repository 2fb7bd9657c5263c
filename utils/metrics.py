"""Image-quality metrics of frame interpolation, computed as the published numbers were.

`psnr` and `ssim_matlab` take a float prediction and a reference, both (B, 3, H, W) in [0, 1]
(or both on the 0..255 scale), and return one value per sample. The published protocol scores
the float prediction; `score` also offers the variant other papers use (prediction rounded to
8 bit first) and the interpolation error (IE) of the Middlebury benchmark.
"""
from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F

from utils.names import METRIC_VARIANTS

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


class MetricError(ValueError):
    """Prediction and reference that cannot be compared."""


def _check_pair(pred: torch.Tensor, ref: torch.Tensor) -> None:
    if pred.shape != ref.shape:
        raise MetricError(f"prediction {tuple(pred.shape)} and reference {tuple(ref.shape)} "
                          "differ in shape")
    if pred.dim() != 4:
        raise MetricError(f"expected (B, C, H, W) tensors, got shape {tuple(pred.shape)}")


def psnr(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB over all channels and pixels of each sample.

    pred, ref: (B, C, H, W) floats on the same scale, peak 1 (255 if pred exceeds 128).
    Computed in float32, as the published figures were (float64 moves them by up to 1e-6).
    Returns (B,) float32; +inf for identical images.
    """
    _check_pair(pred, ref)
    # one reduction per sample: a batched mean(dim=1) sums in another order (1e-6 dB apart)
    mse = torch.stack([(p.float() - r.float()).square().mean() for p, r in zip(pred, ref)])
    return 20 * math.log10(_peak(pred)) - 10 * torch.log10(mse)


def _peak(pred: torch.Tensor) -> float:
    """The dynamic range L: the first argument's maximum decides between [0, 1] and [0, 255]."""
    return 255.0 if float(pred.max()) > 128 else 1.0


def _window(device: torch.device) -> torch.Tensor:
    """The normalised 11x11x11 Gaussian, built in float32 as outer products of the 1-D one.

    Its float32 rounding (weights summing to 1 - 1e-7) is part of the published values: in
    flat regions SSIM divides variances of order 1e-8 by C2 = 9e-4, so an exactly normalised
    float64 window moves SSIM by up to 3e-5.
    """
    x = [math.exp(-(i - SSIM_WINDOW // 2) ** 2 / (2 * SSIM_SIGMA ** 2)) for i in range(SSIM_WINDOW)]
    g = torch.tensor(x, dtype=torch.float32)
    g = g / g.sum()
    w = (g[:, None] * g[None, :])[:, :, None] * g[None, None, :]
    return w.view(1, 1, SSIM_WINDOW, SSIM_WINDOW, SSIM_WINDOW).to(device)


def ssim_matlab(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The "MATLAB-style 3-D" SSIM of RIFE/IFRNet/AMT, per sample.

    Each (C, H, W) image is one 1-channel volume with the channels as depth; the window is an
    11x11x11 Gaussian (sigma 1.5) over replicate-padded volumes; C1 = (0.01 L)^2,
    C2 = (0.03 L)^2, with L = 255 if pred exceeds 128, else 1; the map is averaged.
    One float32 3-D convolution, as the published figures were computed.
    pred, ref: (B, C, H, W) floats. Returns (B,) float32.
    """
    _check_pair(pred, ref)
    peak = _peak(pred)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    x = pred.float().unsqueeze(1)  # (B, 1, C, H, W)
    y = ref.float().unsqueeze(1)
    moments = torch.cat([x, y, x * x, y * y, x * y])  # (5B, 1, C, H, W)
    moments = F.pad(moments, (SSIM_WINDOW // 2,) * 6, mode="replicate")
    # TF32 would round the inputs to 10 mantissa bits and wreck the variances
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        mu_x, mu_y, e_xx, e_yy, e_xy = F.conv3d(moments, _window(x.device)).chunk(5)
    mu_xx, mu_yy, mu_xy = mu_x.square(), mu_y.square(), mu_x * mu_y
    ssim_map = ((2 * mu_xy + c1) * (2 * (e_xy - mu_xy) + c2)) / (
        (mu_xx + mu_yy + c1) * ((e_xx - mu_xx) + (e_yy - mu_yy) + c2))
    return ssim_map.flatten(1).mean(dim=1)  # (B,)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """A [0, 1] image as an 8-bit image would store it: clamped and rounded to k/255."""
    return (x.clamp(0, 1) * 255).round() / 255


def interpolation_error(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Middlebury's IE: mean absolute difference on the 0..255 scale of the 8-bit prediction.

    pred, ref: (B, C, H, W) in [0, 1]. Returns (B,) float32.
    """
    _check_pair(pred, ref)
    diff = quantize(pred).double() * 255 - ref.double() * 255
    return diff.abs().flatten(1).mean(dim=1).float()


def score(pred: torch.Tensor, ref: torch.Tensor, variant: str = "float") -> Dict[str, torch.Tensor]:
    """PSNR, SSIM and IE of each sample: {'psnr': (B,), 'ssim': (B,), 'ie': (B,)} float32.

    variant 'float' scores the float prediction (the published protocol); 'uint8' scores the
    prediction rounded to 8 bit, as a saved frame would be. IE always uses the 8-bit prediction.
    pred, ref: (B, 3, H, W) in [0, 1].
    """
    if variant not in METRIC_VARIANTS:
        raise MetricError(f"unknown metric variant {variant!r}; choose from {METRIC_VARIANTS}")
    scored = quantize(pred) if variant == "uint8" else pred
    return {"psnr": psnr(scored, ref), "ssim": ssim_matlab(scored, ref),
            "ie": interpolation_error(pred, ref)}


def finite_mean(values) -> float:
    """Mean of per-sample values, with PSNR +inf (a frame predicted exactly, e.g. a static
    shot) counted as 100 dB so that one such frame does not make the whole mean infinite."""
    vals = [min(float(v), 100.0) for v in values]
    return math.fsum(vals) / len(vals) if vals else float("nan")
