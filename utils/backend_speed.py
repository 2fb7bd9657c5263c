"""One speed table for several ways of running a model: rows of (name, callable), measured on
the same frames in alternation, reported as medians, ratios to a reference row, peak memory
and how far each row's output is from the reference's.

A row's callable takes (img0, img1), each (1, 3, H, W) float32 in [0, 1], and returns the
middle frame (1, 3, H, W). `torch_rows` builds the PyTorch rows and `backend_rows` the ONNX
Runtime and OpenVINO ones, all through the same Interpolator (padding included).
"""
from __future__ import annotations

import copy
import math
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from networks.amt import AMT
from networks.plan import as_published
from utils.inference import Interpolator
from utils.memory import peak_bytes, reset_peak, sync

Row = Tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]
# The published algorithm: the dense all-pairs volume, float32.
REFERENCE = "dense fp32"


def torch_rows(model: AMT, device: torch.device, bf16: bool = True, compiled: bool = False
               ) -> List[Row]:
    """The PyTorch rows for `model` (its weights; each row gets its own copy): the dense fp32
    path executed as published (REFERENCE: the volume pooled into its pyramid, NCHW layers),
    the default plan in fp32 (corr_mode 'auto': what the demos run), the
    default plan under bf16 autocast, and with `compiled` the default fp32 plan through
    torch.compile (its first call, the compile, happens in the warm-up)."""
    def row(name: str, corr_mode: str, dtype: torch.dtype, compile: bool = False,
            published: bool = False) -> Row:
        m = copy.deepcopy(model)
        m.corr_mode = corr_mode
        if published:
            # The device's own plan for the padded frames (bands, chunks), executed as the
            # published code does.
            plan_of = m.execution_plan
            m.execution_plan = lambda img0, scale_factor=1.0: as_published(
                plan_of(img0, scale_factor))
        ip = Interpolator(m, device, dtype, compile=compile)
        return name, lambda x0, x1: ip.interpolate(x0, x1, 0.5)

    rows = [row(REFERENCE, "dense", torch.float32, published=True),
            row("default fp32", "auto", torch.float32)]
    if bf16:
        rows.append(row("default bf16", "auto", torch.bfloat16))
    if compiled:
        rows.append(row("default fp32, compiled", "auto", torch.float32, compile=True))
    return rows


def backend_rows(model: AMT, backends: Sequence[str], threads: Optional[int] = None
                 ) -> List[Row]:
    """One fp32 row per runtime of `backends` ('onnxruntime', 'openvino'): `model` exported
    to ONNX (utils.runtimes' cache) and run there behind the Interpolator the torch rows use."""
    from utils.runtimes import load_network
    rows = []
    for backend in backends:
        ip = Interpolator(model, "cpu", network=load_network(backend, model, threads))
        rows.append((f"{backend} fp32", lambda x0, x1, ip=ip: ip.interpolate(x0, x1, 0.5)))
    return rows


def measure_rows(rows: Sequence[Row], img0: torch.Tensor, img1: torch.Tensor, repeats: int = 5,
                 warmup: int = 1, device: torch.device = torch.device("cpu"),
                 reference: str = REFERENCE) -> List[Dict[str, object]]:
    """Times every row on the same frames, one run of each row in turn (so a machine that
    slows down or speeds up affects every row alike). Each row's first call (which also
    gives its output) and `warmup` - 1 more are not timed. -> one dict per row: median_s, min_s,
    ratio (median over the reference row's median), peak_mem_gb (the highest reading over
    the row's own runs; on CPU the process's resident high-water mark, reset before each
    run), max_abs_diff and psnr_db against the reference row's output (None without one)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    names = [name for name, _ in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"row names must be unique, got {names}")
    outputs: Dict[str, torch.Tensor] = {}
    for name, fn in rows:
        outputs[name] = fn(img0, img1).float().cpu()
        for _ in range(max(0, warmup - 1)):
            fn(img0, img1)
    times: Dict[str, List[float]] = {name: [] for name in names}
    peaks: Dict[str, int] = {name: 0 for name in names}
    for _ in range(repeats):
        for name, fn in rows:
            sync(device)
            reset_peak(device)
            start = time.perf_counter()
            fn(img0, img1)
            sync(device)
            times[name].append(time.perf_counter() - start)
            peaks[name] = max(peaks[name], peak_bytes(device))
    ref_median = statistics.median(times[reference]) if reference in times else None
    ref_out = outputs.get(reference)
    results = []
    for name in names:
        median = statistics.median(times[name])
        diff = psnr = None
        if ref_out is not None:
            err = outputs[name] - ref_out
            diff = err.abs().max().item()
            mse = err.pow(2).mean().item()
            psnr = math.inf if mse == 0 else 10 * math.log10(1 / mse)
        results.append({"name": name, "median_s": median, "min_s": min(times[name]),
                        "ratio": median / ref_median if ref_median else None,
                        "peak_mem_gb": peaks[name] / 1e9, "max_abs_diff": diff,
                        "psnr_db": psnr, "repeats": repeats})
    return results


def format_table(sections: Sequence[Dict[str, object]], reference: str = REFERENCE) -> str:
    """Markdown: one table row per (size, row). sections: {'size': [H, W], 'results': [...]}"""
    lines = [f"| size | row | median (s) | / {reference} | peak memory (GB) | max abs diff "
             f"| PSNR vs {reference} (dB) |", "|---|---|---|---|---|---|---|"]
    for section in sections:
        h, w = section["size"]
        for r in section["results"]:
            ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
            diff = "" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
            psnr = ("" if r["psnr_db"] is None else
                    "exact" if math.isinf(r["psnr_db"]) else f"{r['psnr_db']:.1f}")
            lines.append(f"| {h}x{w} | {r['name']} | {r['median_s']:.3f} | {ratio} "
                         f"| {r['peak_mem_gb']:.2f} | {diff} | {psnr} |")
    return "\n".join(lines)


def frame_pair(frames: Sequence[torch.Tensor], size: Tuple[int, int],
               device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Two (1, 3, h, w) frames resized (bilinear, antialiased when shrinking) to size (H, W)."""
    out = []
    for f in frames[:2]:
        x = torch.nn.functional.interpolate(f.float(), size=size, mode="bilinear",
                                            align_corners=False, antialias=True)
        out.append(x.clamp(0, 1).to(device or f.device))
    return out[0], out[1]
