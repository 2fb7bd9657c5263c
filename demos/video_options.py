"""The video output flags of the demos, in one function that imports nothing heavy (the
choices are literal tuples from utils.video_formats), so `--help` stays fast."""
from __future__ import annotations

import argparse
from fractions import Fraction
from typing import Optional, Union

from utils.video_formats import CODEC_TABLE, CODECS, COLORSPACES, parse_rate

# the extension of an output named by its folder only: the codec's first container
DEFAULT_EXT = {name: (codec.containers[0] if codec.containers else "")
               for name, codec in CODEC_TABLE.items()}
DEFAULT_EXT.update(ffv1=".mkv", prores=".mov")


def rate(text: str) -> Union[Fraction, str]:
    """argparse type of a frame rate: 60, 59.94 or 60000/1001, as an exact Fraction; text
    that is not one stays text, for the tool to refuse in its one-line way (naming the flag)
    rather than argparse's usage block."""
    try:
        return parse_rate(text)
    except ValueError:
        return text


def add_video_output_options(p: argparse.ArgumentParser) -> None:
    """--codec, --crf, --lossless, --colorspace, --no-alpha."""
    g = p.add_argument_group("video output")
    g.add_argument("--codec", choices=CODECS, default=None,
                   help="libx264 (default for 8-bit input), libx265 (default for 10/12-bit "
                        "input: Main 10/12), ffv1 (lossless, up to 16-bit), prores (422 HQ, "
                        "4444 with alpha), png or tiff (a folder of 8/16-bit images)")
    quality = g.add_mutually_exclusive_group()
    quality.add_argument("--crf", type=int, default=None,
                         help="quality of libx264/libx265, 0-51, lower is better "
                              "(default 10 / 12)")
    quality.add_argument("--lossless", action="store_true",
                         help="lossless libx264/libx265 (4:4:4); ffv1, png and tiff always are")
    g.add_argument("--colorspace", choices=COLORSPACES, default=None,
                   help="matrix, primaries and transfer to encode and tag the output with "
                        "(default: the input's; untagged input as players assume it)")
    g.add_argument("--no-alpha", dest="keep_alpha", action="store_false",
                   help="drop the input's alpha channel (kept by ffv1, prores, png, tiff)")


def video_output_kwargs(a: argparse.Namespace) -> dict:
    """The InterpolationOptions fields of the flags above."""
    return dict(codec=a.codec, crf=a.crf, lossless=a.lossless, colorspace=a.colorspace,
                keep_alpha=a.keep_alpha)


def output_name(stem: str, label: str, codec: Optional[str]) -> str:
    """<stem>_<label> with the codec's default extension (.mp4 for H.264/H.265, .mkv for
    FFV1, .mov for ProRes; none for an image folder)."""
    return f"{stem}_{label}{DEFAULT_EXT[codec or 'libx264']}"


def rate_label(fps: Union[Fraction, str]) -> str:
    """'60fps', '29.97fps' for file names."""
    try:
        return f"{float(fps):.4g}fps"
    except ValueError:  # not a rate: refused when the options are made
        return f"{fps}fps"
