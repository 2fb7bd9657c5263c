"""Xiph 2K and 4K: the first 100 frames of 8 sequences (4096x2160); frames 2k-1 and 2k+1 in,
2k the truth, k = 1..49. "2K": frames resized to 2048x1080 (area interpolation); "4K": the
centre 2048x1080 crop. Both padded to a multiple of 32, the model at scale_factor 0.5.

    python benchmarks/xiph.py -c cfgs/AMT-G.yaml -p pretrained/amt-g.pth -r data/xiph

--from-y4m DIR first converts local DIR/<sequence>*.y4m files into the PNG folders (ffmpeg from
imageio-ffmpeg, 8-bit RGB); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from typing import List, Optional, Sequence

from benchmarks.cli import Benchmark, Run
from utils.evaluation.core import EvaluationError, Protocol
from datasets.sources import FileSource, LayoutError, Spec, require, resize_area

SEQUENCES = ("BoxingPractice", "Crosswalk", "DrivingPOV", "FoodMarket", "FoodMarket2",
             "RitualDance", "SquareAndTimelapse", "Tango")
FRAMES = 100
LAYOUT = "the Xiph layout: ROOT/<sequence>/001.png ... 100.png for " + ", ".join(SEQUENCES)
SIZE_2K = (2048, 1080)  # (W, H)


def xiph_source(root: str, resolution: str, sequences: Sequence[str] = SEQUENCES,
                frames: int = FRAMES) -> FileSource:
    require(root, LAYOUT)

    def frame(seq: str, i: int) -> str:
        return os.path.join(root, seq, f"{i:03d}.png")

    specs = [Spec(f"{seq}/{2 * k:03d}", frame(seq, 2 * k - 1), frame(seq, 2 * k + 1),
                  [(0.5, frame(seq, 2 * k))])
             for seq in sequences for k in range(1, (frames - 1) // 2 + 1)]
    op = resize_area(SIZE_2K) if resolution == "2k" else None
    return FileSource.from_specs(f"Xiph-{resolution.upper()}", root, specs, frame_op=op)


def _find_y4m(src_dir: str, sequence: str) -> str:
    for name in sorted(os.listdir(src_dir)):
        stem = name[:-4] if name.lower().endswith(".y4m") else None
        if stem is not None and (stem == sequence or stem.startswith(sequence + "_")):
            return os.path.join(src_dir, name)
    raise LayoutError(f"no {sequence}.y4m or {sequence}_*.y4m in {src_dir}")


def convert_y4m(src_dir: str, root: str, sequences: Sequence[str] = SEQUENCES,
                frames: int = FRAMES) -> List[str]:
    """Writes ROOT/<sequence>/001.png ... as 8-bit RGB from local .y4m files; sequences whose
    folder already holds all frames are skipped. Returns the folders written."""
    import imageio_ffmpeg

    require(src_dir, "a folder of the Xiph .y4m files")
    written = []
    for seq in sequences:
        dest = os.path.join(root, seq)
        if all(os.path.isfile(os.path.join(dest, f"{i:03d}.png")) for i in range(1, frames + 1)):
            continue
        src = _find_y4m(src_dir, seq)
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{seq}.", dir=root)
        try:
            cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", src,
                   "-frames:v", str(frames), "-pix_fmt", "rgb24", os.path.join(tmp, "%03d.png")]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
                raise EvaluationError(f"ffmpeg could not convert {src}: {last}")
            if os.path.isdir(dest):
                shutil.rmtree(dest)
            os.replace(tmp, dest)  # the folder appears complete or not at all
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        written.append(dest)
    return written


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resolution", default="both", choices=["2k", "4k", "both"])
    p.add_argument("--sequences", default=",".join(SEQUENCES), help="comma-separated subset")
    p.add_argument("--frames", type=int, default=FRAMES, help="frames per sequence (default 100)")
    p.add_argument("--from-y4m", metavar="DIR", help="first convert DIR/<sequence>*.y4m to PNGs")


def runs(args: argparse.Namespace) -> List[Run]:
    sequences = [s for s in args.sequences.split(",") if s]
    if args.frames < 3:
        raise EvaluationError(f"--frames must be at least 3, got {args.frames}")
    if args.from_y4m:
        convert_y4m(args.from_y4m, args.root, sequences, args.frames)
    resolutions = ("2k", "4k") if args.resolution == "both" else (args.resolution,)
    crop = {"2k": None, "4k": (SIZE_2K[1], SIZE_2K[0])}
    return [Run(f"Xiph-{r.upper()}", xiph_source(args.root, r, sequences, args.frames),
                Protocol(pad_divisor=32, scale_factor=0.5, crop=crop[r])) for r in resolutions]


BENCHMARK = Benchmark("xiph", __doc__, "data/xiph", runs, add_arguments)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
