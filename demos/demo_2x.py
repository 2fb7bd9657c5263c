"""Interpolate a video, a glob of images, a folder or two or more images by 2^n (or to any fps).

    python demos/demo_2x.py -c cfgs/AMT-S.yaml -p pretrained/amt-s.pth -n 2 -i clip.mp4 -o out/
    python demos/demo_2x.py -i a.png b.png --fps 60 -o out/ab.mp4
With no -i, the bundled sample clip is used.
"""
from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, List, Optional

from demos.cli import EPILOG, guarded
from demos.video_options import (add_video_output_options, output_name, rate, rate_label,
                                 video_output_kwargs)
from utils.cli_options import add_arbitrary_time, add_backend, add_device
from utils.names import DEFAULT_SCENE_THRESHOLD, DTYPE_NAMES
from utils.video_formats import VIDEO_EXTS

if TYPE_CHECKING:
    from demos.pipeline import InterpolationOptions

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples", "bikes.mp4")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=EPILOG)
    p.add_argument("-c", "--config", help="config whose network section names the variant")
    p.add_argument("-p", "--ckpt", dest="checkpoint", help="checkpoint (default: the bundled one)")
    p.add_argument("-n", "--niters", dest="n_iter", type=int, default=1,
                   help="2^n output frames per input pair (default 1)")
    p.add_argument("-i", "--input", nargs="+", default=[SAMPLE],
                   help="video, glob pattern, folder, or two or more images (default: sample)")
    p.add_argument("-o", "--out_path", default="results",
                   help="output video (.mp4, .m4v, .mkv, .mov, .avi), or a folder for "
                        "<input>_<k>x.mp4 (default results/)")
    p.add_argument("-r", "--frame_rate", type=float, default=None,
                   help="playback fps of the 2^n frames; 0 or unset keeps the source timing")
    rates = p.add_mutually_exclusive_group()
    rates.add_argument("--fps", type=rate,
                       help="target frame rate instead of 2^n (exact: 60, 59.94, 24000/1001)")
    rates.add_argument("--factor", type=int, help="whole-number rate multiplier instead of 2^n")
    p.add_argument("--save_images", action="store_true", help="also write a PNG sequence")
    p.add_argument("--gif", action="store_true", help="also write a GIF")
    p.add_argument("--scale", type=float, default=1.0,
                   help="network resolution factor (e.g. 0.5 for 4K)")
    p.add_argument("--keep-still", action="store_true",
                   help="copy the pixels that are identical in both frames of a pair")
    p.add_argument("--baseline", choices=["average", "dis"],
                   help="a model-free method instead of AMT (frame averaging or DIS flow)")
    add_device(p)
    p.add_argument("--pairs-per-call", type=int, default=None, metavar="N",
                   help="consecutive frame pairs per network call (default: auto, 1 on the "
                        "CPU, on CUDA as many as fit its free memory; the frames are those of "
                        "one pair per call, to a level's rounding)")
    add_arbitrary_time(p)
    add_backend(p)
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--dtype", choices=DTYPE_NAMES, default="fp32",
                      help="network precision: fp16 (GPU) or bf16 autocast (default fp32)")
    prec.add_argument("--fp16", dest="dtype", action="store_const", const="fp16",
                      help="the same as --dtype fp16")
    prec.add_argument("--bf16", dest="dtype", action="store_const", const="bf16",
                      help="the same as --dtype bf16")
    p.add_argument("--no-scene-detect", dest="scene_detect", action="store_false",
                   help="interpolate across scene cuts too")
    p.add_argument("--scene-threshold", type=float, default=DEFAULT_SCENE_THRESHOLD,
                   help="cut distance (1 - SSIM of 32x32 grey thumbnails) above which a pair "
                        f"is a scene cut, 0..1 (default {DEFAULT_SCENE_THRESHOLD:g})")
    add_video_output_options(p)
    return p.parse_args(argv)


def output_path(out: str, inputs: List[str], label: str, codec: Optional[str] = None) -> str:
    """A path with a video extension is the output file (the pipeline refuses containers it
    cannot write, and folders of that name); anything else is a folder to write into, where
    the output is <input>_<label> with the codec's extension (a folder for png/tiff)."""
    if out.lower().endswith(VIDEO_EXTS):
        return out
    name = os.path.splitext(os.path.basename(inputs[0].rstrip("/")))[0] or "frames"
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return os.path.join(out, output_name(name, label, codec))


def options(a: argparse.Namespace) -> InterpolationOptions:
    """The run the parsed command line asks for (DemoError or DeviceError for a bad option)."""
    from demos.pipeline import InterpolationOptions
    from utils.devices import check_device
    label = rate_label(a.fps) if a.fps else f"{a.factor}x" if a.factor else f"{2 ** a.n_iter}x"
    return InterpolationOptions(
        a.input, output_path(a.out_path, a.input, label, a.codec), n_iter=a.n_iter, fps=a.fps,
        factor=a.factor, frame_rate=a.frame_rate, checkpoint=a.checkpoint, config=a.config,
        device=check_device(a.device, backend=a.backend), dtype=a.dtype, scale=a.scale, baseline=a.baseline,
        backend=a.backend,
        keep_still=a.keep_still, arbitrary_time=a.arbitrary_time,
        save_images=a.save_images, gif=a.gif,
        scene_detect=a.scene_detect, scene_threshold=a.scene_threshold,
        pairs_per_call=a.pairs_per_call,
        **video_output_kwargs(a))


def main(argv: Optional[List[str]] = None) -> int:
    a = parse_args(argv)
    from demos.pipeline import run  # after parsing: --help does not wait for torch
    return guarded(lambda: run(options(a)))


if __name__ == "__main__":
    raise SystemExit(main())
