"""The output formats the video writer makes and the rates the tools accept, as plain data
(no ffmpeg, OpenCV or torch here, so that command lines can list them at parse time)."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, Optional, Tuple, Union

# a rate this close (relatively) to a whole number or an NTSC rate k * 1000/1001 is that rate
NTSC_TOLERANCE = 2e-4
COLORSPACES = ("input", "bt709", "bt601", "bt2020")
CODECS = ("libx264", "libx265", "ffv1", "prores", "png", "tiff")
IMAGE_CODECS = ("png", "tiff")


@dataclass(frozen=True)
class Codec:
    """What one --codec can store. `depths`: bits per sample it writes (the highest one not
    above the source's is used); `containers`: the extensions it goes in (none: a folder of
    images); `crf`: (lowest, highest, default) or None when it has no quality scale."""
    name: str
    label: str
    depths: Tuple[int, ...]
    containers: Tuple[str, ...]
    alpha: bool
    crf: Optional[Tuple[int, int, int]]
    lossless: str   # 'always', 'option' (--lossless) or 'never'


CODEC_TABLE: Dict[str, Codec] = {c.name: c for c in (
    # H.264 stays 8-bit: High 10 plays almost nowhere (browsers, phones, most TVs)
    Codec("libx264", "H.264", (8,), (".mp4", ".m4v", ".mkv", ".mov", ".avi"), False,
          (0, 51, 10), "option"),
    Codec("libx265", "H.265", (8, 10, 12), (".mp4", ".mkv", ".mov"), False, (0, 51, 12),
          "option"),
    Codec("ffv1", "FFV1 (lossless)", (8, 10, 12, 16), (".mkv", ".mov", ".avi"), True, None,
          "always"),
    Codec("prores", "ProRes", (10,), (".mov", ".mkv"), True, None, "never"),
    Codec("png", "PNG sequence", (8, 16), (), True, None, "always"),
    Codec("tiff", "TIFF sequence", (8, 16), (), True, None, "always"),
)}
VIDEO_CONTAINERS = (".mp4", ".m4v", ".mkv", ".mov", ".avi")
# what the readers take as a video file (more than the writer makes)
VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m", ".mpg", ".mpeg", ".gif")


def snap_rate(rate: Fraction) -> Fraction:
    """A rate within 0.02% of a whole number or of an NTSC rate k * 1000/1001 is that rate
    (ffmpeg prints 29.97 for 30000/1001; a user types 23.976 for 24000/1001)."""
    for k in (round(rate), round(rate * Fraction(1001, 1000))):
        for exact in (Fraction(k), Fraction(k * 1000, 1001)):
            if k > 0 and abs(rate - exact) <= exact * NTSC_TOLERANCE:
                return exact
    return rate


def to_rate(value: Union[int, float, Fraction]) -> Fraction:
    """The one rule from a number to an exact rate: a Fraction as it is, any other number
    the nearest ratio with a denominator up to 1001, snapped (29.97 is 30000/1001)."""
    if isinstance(value, Fraction):
        return value
    return snap_rate(Fraction(value).limit_denominator(1001))


def parse_rate(text: str) -> Fraction:
    """'60', '59.94', '24000/1001' -> an exact Fraction (ValueError if it is not a rate).
    Decimals that round an NTSC rate are that rate: 29.97 is 30000/1001."""
    text = str(text).strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            rate = Fraction(int(num), int(den))
        else:
            rate = snap_rate(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a frame rate: {text!r} (e.g. 60, 29.97 or 30000/1001)") from None
    return rate


def rate_text(rate: Fraction) -> str:
    """'60' or '29.97 (30000/1001)'."""
    rate = Fraction(rate)
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.5g} ({rate.numerator}/{rate.denominator})"


def default_codec(ext: str, depth: int) -> str:
    """H.264 for 8-bit sources; H.265 Main 10 for deeper ones where the container takes it."""
    if depth > 8 and ext in CODEC_TABLE["libx265"].containers:
        return "libx265"
    return "libx264"
