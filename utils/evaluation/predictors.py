"""Predictors for the evaluation core: a model, the model-free baselines, and test-time
augmentation. (A fixed-time model reaches other times through the Interpolator's recursive
halving; the reports say so.)

A predictor is `predictor(img0, img1, times) -> (T, B, C, H, W)`; img0, img1: (B, C, H, W)
floats in [0, 1], C = 3 (RGB) or 4 (RGBA: the alpha goes where the colour goes); times: list
of T floats in (0, 1).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

import cv2
import numpy as np
import torch

from utils.evaluation.core import EvaluationError, Predictor, Protocol
from utils.checkpoint import sha256_file
from utils.inference import DTYPES, MAX_BATCH, Interpolator, keep_still
from utils.optical_flow import DIS_PRESETS, FlowEstimator, dis_flow


def interpolator_predictor(interpolator: Any, scale_factor: Optional[float] = None,
                           pad_divisor: Optional[int] = None) -> Predictor:
    """utils.inference.Interpolator as a predictor, at the protocol's scale factor. The core
    has already padded the frames as the protocol says; with pad_divisor None the Interpolator
    pads further only where the scale factor needs it (e.g. to 32 at 0.5)."""
    def predict(img0: torch.Tensor, img1: torch.Tensor, times: List[float]) -> torch.Tensor:
        return interpolator.interpolate(img0, img1, list(times), scale_factor=scale_factor,
                                        pad_divisor=pad_divisor)  # (T, B, C, H, W)
    return predict


def flip_tta(predictor: Predictor) -> Predictor:
    """Mean of the prediction and the vertically flipped prediction of flipped inputs."""
    def predict(img0: torch.Tensor, img1: torch.Tensor, times: List[float]) -> torch.Tensor:
        b = img0.shape[0]
        both = predictor(torch.cat([img0, img0.flip(-2)]), torch.cat([img1, img1.flip(-2)]), times)
        return (both[:, :b] + both[:, b:].flip(-2)) / 2  # (T, B, C, H, W)
    return predict


def still_copy(predictor: Predictor) -> Predictor:
    """The prediction with every pixel that is identical in both inputs copied from them."""
    def predict(img0: torch.Tensor, img1: torch.Tensor, times: List[float]) -> torch.Tensor:
        return keep_still(predictor(img0, img1, times), img0, img1)  # (T, B, C, H, W)
    return predict


def average_predictor(img0: torch.Tensor, img1: torch.Tensor, times: List[float]) -> torch.Tensor:
    """Frame averaging, weighted by time: (1 - t) img0 + t img1 (the plain mean at t = 0.5),
    alpha like colour."""
    return torch.stack([(1 - t) * img0 + t * img1 for t in times])


def dis_predictor(preset: str = "medium") -> Predictor:
    """OpenCV DIS optical flow both ways between the inputs, scaled by t and 1 - t to
    approximate the flows from time t to each input, backward warping, blend by time. The
    flow comes from the colour; an alpha channel is warped and blended with it."""
    if preset not in DIS_PRESETS:
        raise EvaluationError(f"unknown DIS preset {preset!r}; choose from {', '.join(DIS_PRESETS)}")
    flow = dis_flow(preset)

    def predict(img0: torch.Tensor, img1: torch.Tensor, times: List[float]) -> torch.Tensor:
        out = torch.stack([torch.stack([torch.from_numpy(f) for f in _dis_pair(flow, a, b, times)])
                           for a, b in zip(_hwc(img0), _hwc(img1))], dim=1)  # (T, B, H, W, C)
        return out.permute(0, 1, 4, 2, 3).to(img0.device)
    return predict


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).float().cpu().numpy()  # (B, H, W, C)


def _rgb8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _dis_pair(flow: FlowEstimator, img0: np.ndarray, img1: np.ndarray,
              times: Iterable[float]) -> List[np.ndarray]:
    """img0, img1: (H, W, C) float32, C = 3 or 4 -> one (H, W, C) float32 frame per time."""
    a, b = _rgb8(img0[..., :3]), _rgb8(img1[..., :3])  # the motion is the colour's
    flow01 = flow(a, b)  # img0(x) ~ img1(x + flow01(x))
    flow10 = flow(b, a)
    h, w = a.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    frames = []
    for t in times:
        w0 = _backward_warp(img0, gx, gy, t * flow10)  # flow t -> 0 ~ t * flow 1 -> 0
        w1 = _backward_warp(img1, gx, gy, (1 - t) * flow01)  # flow t -> 1 ~ (1 - t) * flow 0 -> 1
        frames.append(np.ascontiguousarray((1 - t) * w0 + t * w1, dtype=np.float32))
    return frames


def _backward_warp(img: np.ndarray, gx: np.ndarray, gy: np.ndarray, flow: np.ndarray) -> np.ndarray:
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _direct(times: Iterable[float]) -> str:
    return "direct"


@dataclass
class Method:
    """What is scored (a model or a baseline), as the reports name it."""
    label: str
    make: Callable[[Protocol], Predictor]
    info: Dict[str, Any] = field(default_factory=dict)
    time_mode: Callable[[Iterable[float]], str] = _direct  # how the given times are reached
    recursive: bool = False  # times off the midpoint come from recursive halving

    def predictor(self, protocol: Protocol) -> Predictor:
        predictor = self.make(protocol)
        predictor = flip_tta(predictor) if protocol.tta else predictor
        return still_copy(predictor) if protocol.keep_still else predictor


def baseline_method(name: str, dis_preset: str = "medium") -> Method:
    if name == "average":
        return Method("frame averaging", lambda protocol: average_predictor,
                      {"model": "baseline: frame averaging ((1 - t) I0 + t I1)"})
    if name == "dis":
        predictor = dis_predictor(dis_preset)
        return Method(f"DIS flow ({dis_preset})", lambda protocol: predictor,
                      {"model": f"baseline: OpenCV DIS optical flow, preset {dis_preset}, "
                                "linear flow scaling, backward warping, blend by t"})
    raise EvaluationError(f"unknown baseline {name!r}; choose average or dis")


def model_method(model: Any, device: str, max_batch: int = MAX_BATCH,
                 recursive: Optional[bool] = None, dtype: str = "fp32", tf32: bool = False,
                 compile: bool = False, network: Any = None, backend: str = "torch") -> Method:
    """A loaded AMT (utils.inference.load_model) as a Method. Fixed-time models (recursive
    None: from the model's `arbitrary_time` flag) reach t != 0.5 by recursive halving.
    dtype ('fp32', 'fp16', 'bf16'), tf32 and compile go to the Interpolator and the report;
    network (utils.runtimes.load_network) to the Interpolator, its `backend` name to the
    report."""
    if dtype not in DTYPES:
        raise EvaluationError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    interpolator = Interpolator(model, device=device, dtype=DTYPES[dtype], max_batch=max_batch,
                                recursive=recursive, tf32=tf32, compile=compile,
                                network=network)
    checkpoint = getattr(model, "checkpoint", None)
    variant = getattr(model, "variant", type(model).__name__)
    label = f"{variant} ({os.path.basename(checkpoint)})" if checkpoint else f"{variant} (random init)"
    label += "" if backend == "torch" else f" [{backend}]"
    info = {"model": variant, "checkpoint": checkpoint,
            "checkpoint_sha256": sha256_file(checkpoint) if checkpoint else None,
            "dtype": dtype, "tf32": bool(tf32), "compile": bool(compile), "backend": backend}

    def time_mode(times: Iterable[float]) -> str:
        times = list(times)
        if not interpolator.recursive or all(abs(t - 0.5) < 1e-12 for t in times):
            return "direct"
        effective = interpolator.effective_times(times)
        return ("recursive 2x (fixed-time model)" + ("" if effective == times else
                f"; times rounded to {', '.join(f'{t:g}' for t in effective)}"))

    return Method(label, lambda protocol: interpolator_predictor(interpolator, protocol.scale_factor),
                  info, time_mode, recursive=interpolator.recursive)
