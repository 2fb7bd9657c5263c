"""The one evaluation loop: a predictor, a sample source and a protocol in; scores out.

Every benchmark script and the trainer's validation call `evaluate`. A predictor is any
callable `predictor(img0, img1, times) -> (T, B, 3, H, W)` taking (B, 3, H, W) floats in [0, 1]
and a list of T target times; `utils.evaluation.predictors` makes them from a model or a baseline.
"""
from __future__ import annotations

import heapq
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from tqdm import tqdm

from utils.images import to_tensor, to_uint8
from utils.metrics import METRIC_VARIANTS, finite_mean, score
from utils.padding import InputPadder

Frame = Union[np.ndarray, torch.Tensor]  # (H, W, 3) uint8 RGB, or (3, H, W) / (B, 3, H, W) float
Predictor = Callable[[torch.Tensor, torch.Tensor, List[float]], torch.Tensor]


class EvaluationError(ValueError):
    """A benchmark that cannot run as asked: bad data, bad protocol, bad predictor output."""


@dataclass
class Sample:
    """Two input frames and the frames to predict between them, each at its time t."""
    name: Union[str, List[str]]  # one name per batch element
    img0: Frame
    img1: Frame
    targets: List[Tuple[float, Frame]]


@dataclass(frozen=True)
class Protocol:
    """How a set is scored. Padding is replicate, centred; the crop is a centre crop applied
    to inputs and truths before prediction."""
    pad_divisor: Optional[int] = 16
    scale_factor: float = 1.0
    tta: bool = False  # average with the vertically flipped prediction of flipped inputs
    keep_still: bool = False  # copy the pixels that are identical in both inputs
    metric: str = "float"  # 'float': the published protocol; 'uint8': 8-bit-rounded prediction
    crop: Optional[Tuple[int, int]] = None  # (H, W)

    def __post_init__(self) -> None:
        if self.metric not in METRIC_VARIANTS:
            raise EvaluationError(f"unknown metric variant {self.metric!r}; "
                                  f"choose from {', '.join(METRIC_VARIANTS)}")
        if self.pad_divisor is not None and self.pad_divisor < 1:
            raise EvaluationError(f"pad divisor must be >= 1, got {self.pad_divisor}")
        if not self.scale_factor > 0:
            raise EvaluationError(f"scale_factor must be positive, got {self.scale_factor}")

    def describe(self) -> Dict[str, Any]:
        d = asdict(self)
        d["crop"] = list(self.crop) if self.crop else None
        return d


@dataclass
class FrameScore:
    """The score of one predicted frame."""
    name: str
    t: float
    psnr: float
    ssim: float
    ie: float


@dataclass
class Case:
    """One predicted frame kept for the worst-samples strips: (H, W, 3) uint8 images."""
    score: FrameScore
    inputs: Tuple[np.ndarray, np.ndarray]
    pred: np.ndarray
    truth: np.ndarray


@dataclass
class Result:
    psnr: float  # mean over predicted frames
    ssim: float
    ie: float
    frames: int  # predicted frames scored (samples x targets x batch)
    samples: int
    seconds: float
    per_frame: List[FrameScore] = field(default_factory=list)
    worst: List[Case] = field(default_factory=list)  # lowest PSNR first


def to_batch(x: Frame, device: torch.device) -> torch.Tensor:
    """A frame as (B, 3, H, W) float32 in [0, 1] on `device`."""
    if isinstance(x, np.ndarray):
        x = to_tensor(x)  # (1, 3, H, W)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise EvaluationError(f"frames must be (B, 3, H, W), got {tuple(x.shape)}")
    return x.to(device=device, dtype=torch.float32)


def _image(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) -> (H, W, 3) uint8 for the worst-frame strips; a non-finite pixel shows black."""
    return to_uint8(torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0))


def centre_crop(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """(..., H, W) -> (..., h, w) from the centre."""
    h, w = size
    H, W = x.shape[-2:]
    if h > H or w > W:
        raise EvaluationError(f"crop {h}x{w} is larger than the {H}x{W} frames")
    top, left = (H - h) // 2, (W - w) // 2
    return x[..., top:top + h, left:left + w]


def predict(predictor: Predictor, img0: torch.Tensor, img1: torch.Tensor, times: List[float],
            pad_divisor: Optional[int]) -> torch.Tensor:
    """Pads the inputs as the protocol says, predicts, crops back: (T, B, 3, H, W)."""
    padder = InputPadder(img0.shape[-2:], pad_divisor or 1)
    x0, x1 = padder.pad(img0, img1)
    out = predictor(x0, x1, list(times))
    expected = (len(times),) + tuple(x0.shape)
    if not torch.is_tensor(out) or tuple(out.shape) != expected:
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise EvaluationError(f"the predictor returned {got}; expected (T, B, 3, H, W) = {expected}")
    return padder.unpad(out).float()


_END = object()


def _prefetch(samples: Iterable[Sample]) -> Iterator[Sample]:
    """Loads the next sample in a thread while the current one is scored (decoding overlaps)."""
    it = iter(samples)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, it, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, it, _END)
            yield item


def _names(sample: Sample, batch: int) -> List[str]:
    names = [sample.name] if isinstance(sample.name, str) else list(sample.name)
    if len(names) != batch:
        raise EvaluationError(f"sample {names[:2]} has {len(names)} names for a batch of {batch}")
    return names


class _Worst:
    """Keeps the n lowest-PSNR frames with their images."""

    def __init__(self, n: int) -> None:
        self.n, self.heap, self.counter = n, [], itertools.count()

    def wants(self, psnr: float) -> bool:
        return self.n > 0 and (len(self.heap) < self.n or psnr < -self.heap[0][0])

    def add(self, case: Case) -> None:
        heapq.heappush(self.heap, (-case.score.psnr, next(self.counter), case))
        if len(self.heap) > self.n:
            heapq.heappop(self.heap)

    def cases(self) -> List[Case]:
        return [c for _, _, c in sorted(self.heap, key=lambda e: (-e[0], e[1]))]


def evaluate(predictor: Predictor, samples: Iterable[Sample], protocol: Protocol = Protocol(),
             device: Union[str, torch.device] = "cpu", worst: int = 0, progress: bool = True,
             desc: str = "") -> Result:
    """Scores every target frame of every sample; the means are over predicted frames."""
    device = torch.device(device)
    start = time.perf_counter()
    scores: List[FrameScore] = []
    keep = _Worst(worst)
    n_samples, running = 0, 0.0
    total = len(samples) if hasattr(samples, "__len__") else None
    bar = tqdm(_prefetch(samples), total=total, desc=desc or None, unit="sample",
               disable=not progress, dynamic_ncols=True, leave=False)
    with torch.inference_mode():
        for sample in bar:
            if not sample.targets:
                raise EvaluationError(f"sample {sample.name} has no frame to predict")
            x0, x1 = to_batch(sample.img0, device), to_batch(sample.img1, device)
            times = [float(t) for t, _ in sample.targets]
            truths = torch.stack([to_batch(g, device) for _, g in sample.targets])  # (T, B, 3, H, W)
            if x0.shape != x1.shape or truths.shape[1:] != x0.shape:
                raise EvaluationError(f"sample {sample.name}: frame sizes differ "
                                      f"({tuple(x0.shape)}, {tuple(x1.shape)}, {tuple(truths.shape)})")
            if protocol.crop:
                x0, x1, truths = (centre_crop(v, protocol.crop) for v in (x0, x1, truths))
            preds = predict(predictor, x0, x1, times, protocol.pad_divisor)
            names = _names(sample, x0.shape[0])
            for ti, t in enumerate(times):
                s = score(preds[ti], truths[ti], protocol.metric)
                for b, name in enumerate(names):
                    fs = FrameScore(name, t, float(s["psnr"][b]), float(s["ssim"][b]), float(s["ie"][b]))
                    scores.append(fs)
                    if keep.wants(fs.psnr):
                        keep.add(Case(fs, (_image(x0[b]), _image(x1[b])), _image(preds[ti, b]),
                                      _image(truths[ti, b])))
            n_samples += x0.shape[0]
            if progress:
                new = len(names) * len(times)
                running += finite_mean(f.psnr for f in scores[-new:]) * new
                bar.set_postfix(psnr=f"{running / len(scores):.2f}")
    bar.close()
    if not scores:
        raise EvaluationError("no samples to score")
    return Result(psnr=finite_mean(f.psnr for f in scores), ssim=finite_mean(f.ssim for f in scores),
                  ie=finite_mean(f.ie for f in scores), frames=len(scores), samples=n_samples,
                  seconds=time.perf_counter() - start, per_frame=scores, worst=keep.cases())


def samples_from_batches(batches: Iterable[Mapping[str, Any]]) -> Iterator[Sample]:
    """Batches in the datasets' dict convention ('img0', 'img1', 'imgt' (B, 3, H, W), 'embt'
    (B, 1, 1, 1), optional 'name') as Samples; elements with different t are split apart."""
    counter = itertools.count()
    for batch in batches:
        b = batch["img0"].shape[0]
        names = list(batch.get("name") or [f"{next(counter):06d}" for _ in range(b)])
        times = batch["embt"].reshape(b).tolist()
        for t in sorted(set(times)):
            idx = [i for i in range(b) if times[i] == t]
            pick = torch.tensor(idx)
            yield Sample([names[i] for i in idx], batch["img0"][pick], batch["img1"][pick],
                         [(t, batch["imgt"][pick])])

