"""The one inference API: load a model, interpolate frame pairs at one or many times.

Demos, benchmarks and the trainer's validation all go through `load_model` and `Interpolator`.
"""
from __future__ import annotations

import math
import numbers
import os
import sys
from contextlib import contextmanager, nullcontext
from fractions import Fraction
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from networks import AMT, build_model, canonical_variant, variant_of_config
from utils.checkpoint import CheckpointError, extract_state_dict, infer_variant, read_checkpoint
from utils.config import ConfigError, load_config, moved_key
from utils.images import InputError, range_problem, to_tensor, to_uint8
from utils.names import DTYPE_NAMES, MIN_NET_SIZE, NET_MULTIPLE
from utils.padding import InputPadder

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The bundled, openly trained checkpoint: used when none is given (if present).
DEFAULT_CHECKPOINT = os.path.join(PROJECT_ROOT, "pretrained", "amt-s-open.pth")
Times = Union[float, Sequence[float]]
# the public API; the image conversions live in utils.images and are offered here too
__all__ = ["Interpolator", "load_model", "to_tensor", "to_uint8", "InputError"]


def set_tf32(enabled: bool) -> bool:
    """Allow (True) or forbid (False) TF32 in float32 matmuls and cuDNN convolutions on
    Ampere and later GPUs; returns the previous setting. PyTorch leaves cuDNN convolutions on
    TF32 by default, which moves float32 results by ~1e-3: parity checks and published
    numbers need it off. Harmless without a GPU."""
    previous = bool(torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    torch.backends.cudnn.allow_tf32 = bool(enabled)
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    return previous


@contextmanager
def tf32_mode(enabled: bool) -> Iterator[None]:
    """TF32 allowed or forbidden inside the block, every flag restored afterwards."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    set_tf32(enabled)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


# The one table of precisions, by the names every command line and config uses for them.
DTYPES = dict(zip(DTYPE_NAMES, (torch.float32, torch.float16, torch.bfloat16)))
# Frame pairs per network call when a call is given more (the Interpolator splits it).
MAX_BATCH = 8
# What to try after running out of device memory (command lines add their own flag names).
OUT_OF_MEMORY_HINT = "try a scale factor of 0.5, fp16, or a smaller batch"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether exc is a device out-of-memory error (torch.OutOfMemoryError, or a backend's
    RuntimeError saying so, e.g. MPS or a cuDNN workspace allocation)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def out_of_memory_message(exc: BaseException, hint: str = OUT_OF_MEMORY_HINT) -> str:
    """One line for an out-of-memory error: torch's own message runs to several lines of
    allocator statistics; its first two sentences say what ran out and how much was asked."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    first = ". ".join(first.split(". ")[:2]).rstrip(".")[:160]
    return f"out of memory ({first}); {hint}"


ARBITRARY_TIME_UNKNOWN = (
    "note: {what} does not say whether it was trained for any t or for t = 0.5 only; taking "
    "t = 0.5 only (other times by recursive halving). If it takes any t (GoPro-trained), say "
    "so with {how} or --arbitrary-time")


def _flag(value: Any, where: str) -> bool:
    """A stored arbitrary_time: a real bool ('false' as text is not False)."""
    if not isinstance(value, bool):
        raise CheckpointError(f"{where} arbitrary_time must be true or false, got {value!r}")
    return value


def _arbitrary_time(explicit: Optional[bool], ckpt: Mapping[str, Any],
                    cfg: Optional[Mapping[str, Any]], checkpoint: Optional[str]) -> bool:
    """Whether the weights take any t: the caller's word, else the checkpoint's metadata,
    else the config's network section; a checkpoint that none of them describes is taken
    as t = 0.5 only, with one line on stderr saying so and how to tell."""
    if explicit is not None:
        return bool(explicit)
    meta = ckpt.get("meta") if isinstance(ckpt.get("meta"), Mapping) else {}
    if "arbitrary_time" in meta:
        return _flag(meta["arbitrary_time"], f"{checkpoint}: meta")
    params = ((cfg or {}).get("network") or {}).get("params") or {}
    if "arbitrary_time" in params:
        return _flag(params["arbitrary_time"], "the config's network.params")
    if checkpoint is not None:
        what, how = ((f"{checkpoint} (and the config)", "network.params.arbitrary_time: true")
                     if cfg else (checkpoint, "-c cfgs/AMT-S_gopro.yaml"))
        print(ARBITRARY_TIME_UNKNOWN.format(what=what, how=how), file=sys.stderr)
    return False


def load_model(checkpoint: Optional[str] = None, config: Union[str, Mapping[str, Any], None] = None,
               variant: Optional[str] = None, device: Union[str, torch.device] = "cpu",
               corr_mode: str = "auto", arbitrary_time: Optional[bool] = None) -> AMT:
    """An AMT in eval mode. Weights from `checkpoint`; the architecture from the checkpoint,
    the config's `network` section or `variant` (random weights when no checkpoint is given
    but a config/variant is). With none of them, the bundled default checkpoint is used.

    arbitrary_time (whether the weights take any t): this argument, else the checkpoint's
    metadata, else the config's `network.params.arbitrary_time`, else False (with one line
    on stderr when a checkpoint was loaded: the published files do not say)."""
    cfg = load_config(config) if isinstance(config, str) else config
    cfg_name = config if isinstance(config, str) else "the config"
    moved = moved_key(cfg or {})
    if moved:
        raise ConfigError(f"{cfg_name}: {moved}")
    if checkpoint is None and cfg is None and variant is None:
        if not os.path.isfile(DEFAULT_CHECKPOINT):
            raise CheckpointError("no checkpoint given and the default "
                                  f"{DEFAULT_CHECKPOINT} is not there; pass -p CKPT")
        checkpoint = DEFAULT_CHECKPOINT
    wanted = canonical_variant(variant) if variant else None
    if cfg is not None:
        from_cfg = variant_of_config(cfg.get("network") or {})
        if wanted and wanted != from_cfg:
            raise CheckpointError(f"{cfg_name} builds {from_cfg} but {wanted} was requested")
        wanted = from_cfg
    raw: Mapping[str, Any] = {}
    state = None
    if checkpoint is not None:
        raw = read_checkpoint(checkpoint)
        state = extract_state_dict(raw, checkpoint)
        held = infer_variant(state, checkpoint)
        if wanted and wanted != held:
            raise CheckpointError(f"{cfg_name if cfg is not None else 'the requested variant'} is "
                                  f"{wanted} but checkpoint {checkpoint} holds {held} weights")
        wanted = held
    params = dict((cfg or {}).get("network", {}).get("params") or {})
    params.pop("variant", None)
    params.update(corr_mode=corr_mode,
                  arbitrary_time=_arbitrary_time(arbitrary_time, raw, cfg, checkpoint))
    model = build_model(wanted, **params)
    if state is not None:
        model.load_state_dict(state, strict=True)
    model.checkpoint = checkpoint
    return model.to(device).eval()


def _pad_divisor(scale_factor: float) -> int:
    """Smallest divisor d with d * scale a multiple of NET_MULTIPLE (16: 0.5 -> 32, 0.8 -> 20)."""
    d = NET_MULTIPLE / scale_factor
    if d < 1 or abs(d - round(d)) > 1e-6:
        raise InputError(f"scale_factor {scale_factor} must divide {NET_MULTIPLE} into a whole "
                         "number (e.g. 1, 0.5, 0.25, 0.8, 0.4, 2)")
    return int(round(d))


class Interpolator:
    """Interpolates frame pairs with one model on one device, padding and cropping around it.

    Arbitrary-time models (`model.arbitrary_time`, e.g. the GoPro AMT-S) are asked for each t
    directly (`recursive` overrides it). Fixed-time models (trained at t = 0.5 only) reach
    other times by recursive halving: t is rounded to the nearest k / 2^d (d <= max_depth)
    and built from midpoints, each computed once per call. `effective_times` says which
    times that yields.

    tf32: allow TF32 on CUDA during the calls (off: exact float32, as the parity fixtures and
    published numbers need). compile: run `model.encode` and `model.decode` (what this class
    calls; compiling the module's forward would compile nothing used here) through
    torch.compile with `compile_backend`; the execution plan is chosen outside the compiled
    code, once per call.

    The model is only read: calls run it in eval mode and put every module's train/eval
    mode back afterwards (the trainer validates its training network through this class).

    network: what the calls run, an object with the model's `encode(img0, img1,
    scale_factor, plan=...)` and `decode(feats, embt) -> {'imgt_pred': ...}` (default: the
    model; utils.runtimes.load_network gives the ONNX Runtime and OpenVINO ones). The
    model still says how times are reached and plans the pair.
    """

    def __init__(self, model: AMT, device: Union[str, torch.device, None] = None,
                 dtype: torch.dtype = torch.float32, pad_divisor: Optional[int] = None,
                 scale_factor: float = 1.0, max_batch: int = MAX_BATCH,
                 recursive: Optional[bool] = None,
                 max_depth: int = 6, keep_still: bool = False, tf32: bool = False,
                 compile: bool = False, compile_backend: Union[str, Callable] = "inductor",
                 network: Any = None) -> None:
        if dtype not in DTYPES.values():
            raise InputError(f"dtype must be float32, float16 or bfloat16, not {dtype}")
        scale_factor = _check_scale(scale_factor)
        _check_pad_divisor(pad_divisor)
        if not _is_whole(max_depth) or max_depth < 1:
            raise InputError(f"max_depth must be a whole number >= 1, got {max_depth!r}")
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model = model.to(self.device)
        self.dtype, self.max_batch = dtype, max(1, int(max_batch))
        self.scale_factor, self.pad_divisor = float(scale_factor), pad_divisor
        self.recursive = (not model.arbitrary_time) if recursive is None else bool(recursive)
        self.max_depth = int(max_depth)
        self.keep_still = bool(keep_still)
        self.tf32, self.compiled = bool(tf32), bool(compile)
        self._plans: Dict[tuple, Any] = {}  # compiled: the first plan per frame shape
        network = self.model if network is None else network
        if compile and network is not self.model:
            raise InputError("compile applies to the torch network, not to another backend's")
        self._encode: Callable[..., Any] = network.encode
        self._decode_fn: Callable[..., Dict[str, Any]] = network.decode
        if compile:
            self._encode = torch.compile(self.model.encode, backend=compile_backend)
            self._decode_fn = torch.compile(self.model.decode, backend=compile_backend)

    def effective_times(self, t: Times) -> List[float]:
        """The times the output frames are really at (dyadic ones for recursive halving)."""
        times = _check_times(t)
        return [float(_dyadic(tt, self.max_depth)) for tt in times] if self.recursive else times

    def _autocast(self):
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _tf32(self):
        # Only CUDA reads these flags: CPU runs keep the process's settings untouched.
        return tf32_mode(self.tf32) if self.device.type == "cuda" else nullcontext()

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, t: Times = 0.5,
                    scale_factor: Optional[float] = None, pad_divisor: Optional[int] = None
                    ) -> torch.Tensor:
        """img0, img1: (B, C, H, W) floats in [0, 1], C = 3 (RGB) or 4 (RGBA: the alpha is
        moved by the colour's motion, the colour is exactly the RGB call's). A number t gives
        (B, C, H, W); a sequence of T times gives (T, B, C, H, W). Float32 output on the
        input's device."""
        t = _as_number(t)  # a 0-d tensor or array is one time: no time axis in the output
        times = _check_times(t)
        _check_frames(img0, img1)
        if scale_factor is not None:
            scale_factor = _check_scale(scale_factor)
        _check_pad_divisor(pad_divisor)
        s = float(self.scale_factor if scale_factor is None else scale_factor)
        divisor = pad_divisor or self.pad_divisor or _pad_divisor(s)
        padder = InputPadder(img0.shape[-2:], divisor, math.ceil(MIN_NET_SIZE / s))
        x0, x1 = padder.pad(img0.to(self.device, torch.float32), img1.to(self.device, torch.float32))
        outs = []
        with torch.inference_mode(), eval_mode(self.model), self._autocast(), self._tf32():
            for start in range(0, x0.shape[0], self.max_batch):
                pair = (x0[start:start + self.max_batch], x1[start:start + self.max_batch])
                run = self._recursive if self.recursive else self._direct
                outs.append(torch.stack(run(*pair, times, s)))
        out = padder.unpad(torch.cat(outs, dim=1)).float().clamp_(0, 1).to(img0.device)
        if self.keep_still:
            out = keep_still(out, img0, img1)
        return out[0] if isinstance(t, numbers.Real) else out

    def _direct(self, x0: torch.Tensor, x1: torch.Tensor, times: List[float], s: float
                ) -> List[torch.Tensor]:
        feats = self._encode_pair(x0, x1, s)
        return [self._decode(feats, tt) for tt in times]

    def _encode_pair(self, x0: torch.Tensor, x1: torch.Tensor, s: float):
        # The plan asks the device for its free memory: done here, outside compiled code. A
        # compiled encode keeps the first plan of each frame shape, since budgets that move
        # with the free memory would make dynamo compile it again.
        if not self.compiled:
            return self._encode(x0, x1, s, plan=self.model.execution_plan(x0, s))
        key = (tuple(x0.shape), s, torch.is_autocast_enabled(x0.device.type))
        if key not in self._plans:
            self._plans[key] = self.model.execution_plan(x0, s)
        return self._encode(x0, x1, s, plan=self._plans[key])

    def _recursive(self, x0: torch.Tensor, x1: torch.Tensor, times: List[float], s: float
                   ) -> List[torch.Tensor]:
        frames: Dict[Fraction, torch.Tensor] = {Fraction(0): x0, Fraction(1): x1}
        return [self._dyadic_frame(frames, _dyadic(tt, self.max_depth), s) for tt in times]

    def _dyadic_frame(self, frames: Dict[Fraction, torch.Tensor], f: Fraction, s: float
                      ) -> torch.Tensor:
        """The frame at dyadic time f, built from midpoints and memoised in `frames`.
        A method rather than a recursive closure: a closure that refers to itself is a
        reference cycle, and it kept every call's full-resolution frames alive until the
        garbage collector's next full pass (memory that grew with the video's length)."""
        if f not in frames:
            half = Fraction(1, f.denominator)
            a = self._dyadic_frame(frames, f - half, s)
            b = self._dyadic_frame(frames, f + half, s)
            frames[f] = self._decode(self._encode_pair(a, b, s), 0.5).float()
        return frames[f]

    def _decode(self, feats, t: float) -> torch.Tensor:
        b = feats.img0.shape[0]
        embt = torch.full((b, 1, 1, 1), t, device=self.device)
        return self._decode_fn(feats, embt)["imgt_pred"]


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """`model` in eval mode inside the block; each module's own mode restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def keep_still(pred: torch.Tensor, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    """pred (..., B, C, H, W) with every pixel that is identical in img0 and img1 (B, C, H, W;
    in every channel, alpha included) copied from them. The network gives such pixels back
    only to about 56 dB (a blend of two warps plus a residual), which costs most on nearly
    still footage: +0.18 dB on held-out bigbuckbunny frames 80-131 with the bundled model,
    where 65% of the pixels do not change."""
    still = (img0 == img1).all(dim=-3, keepdim=True)  # (B, 1, H, W)
    return torch.where(still, img0.to(pred.dtype), pred)


def _dyadic(t: float, max_depth: int) -> Fraction:
    """The k / 2^d closest to t with the smallest d <= max_depth (exact for dyadic t)."""
    best = None
    for d in range(1, max_depth + 1):
        f = Fraction(round(t * 2 ** d), 2 ** d)
        if best is None or abs(float(f) - t) < abs(float(best) - t) - 1e-12:
            best = f
    return min(max(best, Fraction(1, 2 ** max_depth)), 1 - Fraction(1, 2 ** max_depth))


def _as_number(x: Any) -> Any:
    """A 0-d tensor or array (what indexing or a reduction gives) as a Python number;
    anything else unchanged."""
    if (torch.is_tensor(x) or isinstance(x, np.ndarray)) and x.ndim == 0:
        return x.item()
    return x


def _is_whole(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check_scale(scale_factor: Any) -> float:
    s = _as_number(scale_factor)
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s) or s <= 0:
        raise InputError(f"scale_factor must be a positive number (e.g. 1, 0.5, 0.25), "
                         f"got {scale_factor!r}")
    return float(s)


def _check_pad_divisor(pad_divisor: Any) -> None:
    # 0 has always meant "from the scale factor", as None does
    if pad_divisor is not None and (not _is_whole(pad_divisor) or pad_divisor < 0):
        raise InputError(f"pad_divisor must be a whole number >= 1 (or None), got {pad_divisor!r}")


def _check_times(t: Times) -> List[float]:
    t = _as_number(t)
    what = "t must be a number or a sequence of numbers strictly between 0 and 1"
    if isinstance(t, numbers.Real):
        times = [t]
    elif (isinstance(t, (str, bytes, Mapping)) or not isinstance(t, Iterable)
          or ((torch.is_tensor(t) or isinstance(t, np.ndarray)) and t.ndim != 1)):
        shape = f" of shape {tuple(t.shape)}" if hasattr(t, "shape") else ""
        raise InputError(f"{what}, got {type(t).__name__}{shape} {_short(t)}")
    else:
        times = [_as_number(tt) for tt in t]
    if not times:
        raise InputError("no target time given")
    for tt in times:
        if isinstance(tt, bool) or not isinstance(tt, numbers.Real):
            raise InputError(f"{what}, got {type(tt).__name__} {_short(tt)} among them")
        if not math.isfinite(tt) or not 0 < tt < 1:
            raise InputError(f"target time t must lie strictly between 0 and 1, got {tt!r}")
    return [float(tt) for tt in times]


def _short(x: Any) -> str:
    text = " ".join(repr(x).split())
    return text if len(text) <= 40 else text[:37] + "..."


def _check_frames(img0: torch.Tensor, img1: torch.Tensor) -> None:
    for name, x in (("img0", img0), ("img1", img1)):
        if not torch.is_tensor(x) or x.dim() != 4:
            got = f"a {x.dim()}-d tensor" if torch.is_tensor(x) else f"a {type(x).__name__}"
            raise InputError(f"{name} must be a (B, 3, H, W) or RGBA (B, 4, H, W) tensor, got "
                             f"{got} (utils.inference.to_tensor makes one from an image)")
        if x.shape[1] not in (3, 4):
            raise InputError(f"{name} has {x.shape[1]} channels; RGB (3) or RGBA (4) is required")
        if x.numel() == 0:
            raise InputError(f"{name} is empty (shape {tuple(x.shape)})")
        if not x.is_floating_point():
            # uint8 frames come out white, as values up to 255 saturate a model that expects 1
            raise InputError(f"{name} is {x.dtype}; frames must be float in [0, 1] "
                             "(divide 8-bit frames by 255)")
    if img0.shape != img1.shape:
        raise InputError(f"frame sizes differ: {tuple(img0.shape)} vs {tuple(img1.shape)}")
    ranges = torch.stack([*torch.aminmax(img0), *torch.aminmax(img1)]).tolist()  # one sync
    for name, x, (lo, hi) in (("img0", img0, ranges[:2]), ("img1", img1, ranges[2:])):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            # one NaN or inf spreads through the correlation volume to every output pixel
            where = (~torch.isfinite(x)).nonzero()[0].tolist()
            raise InputError(f"{name} holds a non-finite value (NaN or inf) at (batch, channel, "
                             f"y, x) = {tuple(where)}; it would make every output pixel NaN")
        problem = range_problem(lo, hi)
        if problem:
            raise InputError(f"{name}: {problem}")
