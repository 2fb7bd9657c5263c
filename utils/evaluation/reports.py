"""Benchmark reports: a JSON record and a Markdown table per run, optional per-frame CSV and
image strips of the worst frames. Every file is written atomically."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from typing import Any, Dict, List, Sequence

import cv2
import numpy as np

from utils.evaluation.core import Case, Result
from utils.atomic import write_bytes

STRIP_PANEL_WIDTH = 960  # 4K frames are shrunk so that a strip stays viewable
ERROR_GAIN = 4  # error maps show |prediction - truth| x 4


def write_atomic(path: str, data: bytes) -> None:
    """utils.atomic's write into a folder made if needed: never half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_bytes(path, data)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "run"


def record(benchmark: str, method_label: str, info: Dict[str, Any], result: Result,
           **extra: Any) -> Dict[str, Any]:
    """The JSON-able summary of one run."""
    return {"benchmark": benchmark, "method": method_label, **info,
            "psnr": _finite(result.psnr), "ssim": _finite(result.ssim), "ie": _finite(result.ie),
            "samples": result.samples, "frames": result.frames,
            "seconds": round(result.seconds, 3), **extra}


def _finite(x: float):
    return x if math.isfinite(x) else None


def markdown_table(records: Sequence[Dict[str, Any]]) -> str:
    lines = ["| benchmark | method | PSNR | SSIM | IE | samples | frames | missing | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['benchmark']} | {r['method']} | {_fmt(r['psnr'], 2)} | "
                     f"{_fmt(r['ssim'], 4)} | {_fmt(r['ie'], 2)} | {r['samples']} | {r['frames']} | "
                     f"{r.get('missing', 0)} | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def _fmt(x, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def run_markdown(rec: Dict[str, Any]) -> str:
    """One run: the table row plus what was measured how."""
    details = [f"- {k}: {json.dumps(rec[k]) if isinstance(rec[k], (dict, list)) else rec[k]}"
               for k in rec if k not in ("benchmark", "method", "psnr", "ssim", "ie", "samples",
                                         "frames", "seconds", "missing")]
    return f"# {rec['benchmark']}: {rec['method']}\n\n{markdown_table([rec])}\n" + "\n".join(details) + "\n"


def per_frame_csv(result: Result) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "t", "psnr", "ssim", "ie"])
    for f in result.per_frame:
        w.writerow([f.name, f"{f.t:.6g}", f"{f.psnr:.6f}", f"{f.ssim:.7f}", f"{f.ie:.4f}"])
    return buf.getvalue().encode()


def strip(case: Case) -> np.ndarray:
    """(H', 5 W', 3) uint8 RGB: input 0 | input 1 | prediction | truth | error map."""
    err = np.abs(case.pred.astype(np.int16) - case.truth.astype(np.int16)).mean(axis=2)
    err = np.clip(err * ERROR_GAIN, 0, 255).astype(np.uint8)
    err = cv2.cvtColor(cv2.applyColorMap(err, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    panels = [case.inputs[0], case.inputs[1], case.pred, case.truth, err]
    labels = ["input 0", "input 1", f"prediction t={case.score.t:.3g}", "truth",
              f"|error| x{ERROR_GAIN}  {case.score.psnr:.2f} dB"]
    h, w = case.pred.shape[:2]
    if w > STRIP_PANEL_WIDTH:
        size = (STRIP_PANEL_WIDTH, max(1, round(h * STRIP_PANEL_WIDTH / w)))
        panels = [cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in panels]
    out = []
    for panel, label in zip(panels, labels):
        panel = np.ascontiguousarray(panel)
        scale = max(0.3, panel.shape[1] / 900)
        cv2.putText(panel, label, (4, int(16 * scale) + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale,
                    (255, 255, 0), 1, cv2.LINE_AA)
        out.append(panel)
    return np.concatenate(out, axis=1)


def write_run(report_dir: str, rec: Dict[str, Any], result: Result, csv_rows: bool = False) -> List[str]:
    """Writes <dir>/<benchmark>__<method>.json/.md (and .csv, and <...>_worst/*.png)."""
    base = os.path.join(report_dir, f"{slug(rec['benchmark'])}__{slug(rec['method'])}")
    written = [base + ".json", base + ".md"]
    write_atomic(base + ".json", (json.dumps(rec, indent=2) + "\n").encode())
    write_atomic(base + ".md", run_markdown(rec).encode())
    if csv_rows:
        write_atomic(base + ".csv", per_frame_csv(result))
        written.append(base + ".csv")
    for rank, case in enumerate(result.worst, 1):
        path = os.path.join(base + "_worst", f"{rank:02d}_{slug(case.score.name)}_t{case.score.t:.3f}.png")
        ok, png = cv2.imencode(".png", cv2.cvtColor(strip(case), cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"could not encode {path}")
        write_atomic(path, png.tobytes())
        written.append(path)
    return written


def write_summary(report_dir: str, records: Sequence[Dict[str, Any]], name: str = "summary") -> List[str]:
    """All runs of one command as one table (.md) and one list (.json)."""
    base = os.path.join(report_dir, name)
    write_atomic(base + ".md", markdown_table(records).encode())
    write_atomic(base + ".json", (json.dumps(list(records), indent=2) + "\n").encode())
    return [base + ".md", base + ".json"]
