"""Peak memory of the interpolation tool against video length (streaming check).

    python benchmarks/streaming_memory.py --size 1280x720 --frames 50 400 --baseline dis
    python benchmarks/streaming_memory.py --size 1280x720 --frames 50 400 -c cfgs/AMT-S.yaml --scale 0.5

Generates test clips with ffmpeg (testsrc), runs `demos/demo_2x.py` on each in a fresh
process and reports that process's resident high-water mark (the ffmpeg reader/writer
processes are not included).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import List, Optional


def make_clip(path: str, frames: int, size: str, fps: int = 25) -> None:
    import imageio_ffmpeg  # here: --help does not load it
    w, h = size.lower().split("x")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
                    "-i", f"testsrc2=size={w}x{h}:rate={fps}", "-frames:v", str(frames),
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", path], check=True)


def peak_rss_of(cmd: List[str]) -> tuple:
    """(peak resident GB, seconds, exit code) of a command, polling /proc/<pid>/status."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.05)
    return peak / 1e9, time.perf_counter() - start, proc.returncode


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720")
    p.add_argument("--frames", type=int, nargs="+", default=[50, 400])
    p.add_argument("--baseline", choices=["average", "dis"], default=None,
                   help="model-free method (fast on CPU); default: AMT via -p/-c or defaults")
    p.add_argument("-p", "--checkpoint")
    p.add_argument("-c", "--config", help="config naming the variant (random weights without -p)")
    p.add_argument("--scale", type=float, help="the demo's --scale (network resolution factor)")
    p.add_argument("--json")
    a = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.frames:
            clip = os.path.join(tmp, f"clip{n}.mp4")
            make_clip(clip, n, a.size)
            cmd = [sys.executable, "-m", "demos.demo_2x", "-i", clip, "-n", "1",
                   "-o", os.path.join(tmp, f"out{n}.mp4")]
            cmd += ["--baseline", a.baseline] if a.baseline else []
            cmd += ["-p", a.checkpoint] if a.checkpoint else []
            cmd += ["-c", a.config] if a.config else []
            cmd += ["--scale", str(a.scale)] if a.scale else []
            gb, secs, rc = peak_rss_of(cmd)
            if rc != 0:
                print(f"error: the demo failed on the {n}-frame clip (exit {rc})", file=sys.stderr)
                return 2
            rows.append({"frames": n, "peak_rss_gb": gb, "seconds": secs})
            print(f"{a.size} x{2}: {n:4d} frames -> peak RSS {gb:.3f} GB ({secs:.0f} s)")
    if len(rows) > 1:
        print(f"ratio longest/shortest: {rows[-1]['peak_rss_gb'] / rows[0]['peak_rss_gb']:.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"size": a.size, "method": a.baseline or "AMT", "scale": a.scale, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
