"""What a video file holds, read from the ffmpeg that imageio-ffmpeg bundles (it has no
ffprobe): the first video stream's colour tags, pixel format, depth, alpha, size and rotation;
audio presence; and the frames' presentation times, from a packet listing (no decoding).

`probe(path)` parses `ffmpeg -hide_banner -i FILE`'s stream lines, e.g.
`Stream #0:0: Video: h264 (High), yuv420p(tv, bt709, progressive), 1280x720, 25 fps`, and
`frame_times(path)` reads `ffmpeg -i FILE -map 0:v:0 -c copy -f framecrc -` (a few
hundredths of a second for a 10 s 720p clip against a second to decode it).
Names are ffmpeg's own (`bt709`, `smpte170m`, `bt2020nc`, `smpte2084`, `tv`/`pc`).
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple, Union

from utils.video_formats import snap_rate, to_rate

# ffmpeg prints one name instead of space/primaries/transfer when the three are the same
# word; these are the words that can stand for all three.
_SHARED_NAMES = {"bt709", "smpte170m", "smpte240m", "bt470bg", "bt2020", "unknown", "film"}
_RANGES = {"tv", "pc"}
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")   # PQ, HLG
# ffmpeg colorspace name -> the scale filter's in/out_color_matrix
SWS_MATRIX = {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601", "bt2020nc": "bt2020",
              "bt2020c": "bt2020", "smpte240m": "smpte240m", "fcc": "fcc"}
# --colorspace choices -> (matrix, primaries, transfer)
NAMED = {"bt709": ("bt709", "bt709", "bt709"),
         "bt601": ("smpte170m", "smpte170m", "smpte170m"),
         "bt2020": ("bt2020nc", "bt2020", "bt709")}


class ProbeError(ValueError):
    """A file ffmpeg cannot read as a video; str() is one line, `why` its reason."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"cannot read video {path}: {why}")
        self.why = why


@dataclass(frozen=True)
class Colour:
    """How RGB relates to the stored values: YCbCr matrix, primaries, transfer, range.
    `matrix` 'gbr' is an RGB format (no matrix); `assumed` says what was not tagged."""
    matrix: str
    primaries: str
    transfer: str
    range: str            # 'tv' (limited) or 'pc' (full)
    assumed: str = ""

    @property
    def rgb(self) -> bool:
        return self.matrix == "gbr"

    @property
    def hdr(self) -> bool:
        return self.transfer in HDR_TRANSFERS

    @property
    def sws_matrix(self) -> str:
        return SWS_MATRIX.get(self.matrix, "bt709")

    def tags(self, rgb_output: bool = False) -> str:
        """The setparams filter options that tag frames with these values."""
        matrix, rng = ("gbr", "pc") if rgb_output else (self.matrix, self.range)
        return (f"color_primaries={self.primaries}:color_trc={self.transfer}:"
                f"colorspace={matrix}:range={rng}")

    def describe(self, rgb_output: bool = False) -> str:
        matrix, rng = ("RGB", "full") if rgb_output else \
            (self.matrix, {"tv": "limited", "pc": "full"}[self.range])
        return f"{matrix} matrix, {self.primaries} primaries, {self.transfer} transfer, {rng} range"


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file (and whether the file has audio)."""
    path: str
    codec: str
    pix_fmt: str
    width: int                 # as decoded (rotation applied)
    height: int
    depth: int                 # bits per sample of the stored pixels
    alpha: bool
    colour: Colour
    fps: Optional[Fraction]    # the header's rate (rounded by ffmpeg; frame_times is exact)
    duration: Optional[float]  # the container's, seconds
    has_audio: bool
    audio_codec: Optional[str] = None


@dataclass(frozen=True)
class FrameTimes:
    """Presentation times of the frames, seconds from the first, and the exact frame rate
    (the rate of a constant-rate stream; for a variable one the mean rate, snapped)."""
    times: Tuple[Fraction, ...]
    fps: Fraction
    constant: bool
    # the first frame's time from the file's start (seconds): ffmpeg's listing subtracts the
    # container's start time, the earliest of all streams' first packets
    first: Fraction
    last_duration: Fraction    # how long the last frame is shown
    others_end: Optional[Fraction] = None  # where the audio ends in the file (None: no audio)

    @property
    def duration(self) -> Fraction:
        return self.times[-1] + self.last_duration


def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # here, so that listing formats at parse time stays light
    return imageio_ffmpeg.get_ffmpeg_exe()


def split_top(text: str) -> List[str]:
    """Split at commas outside parentheses and brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def pix_fmt_depth(pix_fmt: str) -> int:
    """Bits per sample of an ffmpeg pixel format name (8 unless the name says more)."""
    packed = {"rgb48": 16, "bgr48": 16, "rgba64": 16, "bgra64": 16, "ya16": 16, "p010": 10,
              "p012": 12, "p016": 16, "p210": 10, "p216": 16, "p410": 10, "p416": 16,
              "y210": 10, "y212": 12, "x2rgb10": 10, "x2bgr10": 10, "xv30": 10, "v30x": 10}
    base = re.sub(r"(le|be)$", "", pix_fmt)
    if base in packed:
        return packed[base]
    m = re.search(r"(?:p|gray|ya|f)(\d+)$", base)
    return int(m.group(1)) if m and int(m.group(1)) > 8 else 8


def pix_fmt_alpha(pix_fmt: str) -> bool:
    return bool(re.match(r"(yuva|gbrap|rgba|bgra|argb|abgr|ya\d|ayuv|vuya|rgb32|bgr32)", pix_fmt))


def pix_fmt_rgb(pix_fmt: str) -> bool:
    return bool(re.match(r"(gbr|rgb|bgr|argb|abgr|0rgb|0bgr|x2rgb|x2bgr|pal8)", pix_fmt))


def parse_stream(line: str) -> Optional[dict]:
    """The fields of one `Stream #0:N...: Video: ...` line, None for other lines (and for
    attached pictures such as cover art)."""
    m = re.search(r"Stream #\d+:\d+\S*: Video: (.*)$", line)
    if not m or "(attached pic)" in line:
        return None
    parts = split_top(m.group(1))
    codec = parts[0].split()[0] if parts else "?"
    out = {"codec": codec, "pix_fmt": "", "tags": [], "size": None, "fps": None}
    for part in parts[1:]:
        pm = re.match(r"^([a-z][a-z0-9_]*)(?:\((.*)\))?$", part)
        if pm and not out["pix_fmt"] and not re.search(r"\d+x\d+", part):
            out["pix_fmt"] = pm.group(1)
            out["tags"] = [t.strip() for t in (pm.group(2) or "").split(",")]
            continue
        sm = re.match(r"^(\d+)x(\d+)", part)
        if sm and out["size"] is None:
            out["size"] = (int(sm.group(1)), int(sm.group(2)))
            continue
        fm = re.match(r"^([\d.]+)(k?) fps", part)
        if fm:
            out["fps"] = float(fm.group(1)) * (1000 if fm.group(2) else 1)
    return out


def parse_colour_tags(tags: Sequence[str]) -> Tuple[Optional[str], Optional[str], Optional[str],
                                                    Optional[str]]:
    """(matrix, primaries, transfer, range) from the words in a pixel format's parentheses,
    e.g. ['tv', 'bt709', 'progressive'] or ['tv', 'bt2020nc/bt2020/smpte2084']; None where
    not tagged."""
    matrix = primaries = transfer = rng = None
    for tag in tags:
        if tag in _RANGES:
            rng = tag
        elif "/" in tag:
            named = [None if v == "unknown" else v for v in tag.split("/")[:3]]
            matrix, primaries, transfer = (named + [None, None])[:3]
        elif tag in _SHARED_NAMES:
            matrix = primaries = transfer = None if tag == "unknown" else tag
    return matrix, primaries, transfer, rng


def resolve_colour(pix_fmt: str, height: int, tags: Sequence[str]) -> Colour:
    """The colour to decode with: the tags, and where they are missing what players assume
    (BT.709 from 720 lines up, BT.601 below; limited range unless a full-range 'j' format)."""
    matrix, primaries, transfer, rng = parse_colour_tags(tags)
    notes = []
    if pix_fmt_rgb(pix_fmt):
        matrix, rng = "gbr", "pc"
    elif pix_fmt.startswith("gray") or pix_fmt.startswith("ya"):
        matrix = matrix or ("bt709" if height >= 720 else "smpte170m")
    elif matrix not in SWS_MATRIX:
        guess = "bt709" if height >= 720 else "smpte170m"
        what = "untagged" if matrix is None else f"matrix {matrix} (not supported)"
        notes.append(f"{what}: decoded as {'BT.709' if guess == 'bt709' else 'BT.601'} "
                     f"({'HD' if height >= 720 else 'SD'}, as players assume)")
        matrix = guess
    if rng is None:
        rng = "pc" if pix_fmt.startswith("yuvj") else "tv"
    family = {"bt709": "bt709", "bt2020nc": "bt2020", "bt2020c": "bt2020",
              "bt470bg": "bt470bg", "smpte240m": "smpte240m"}.get(matrix, "smpte170m")
    if matrix == "gbr":
        family = "bt709"  # RGB without tags: sRGB-like, the primaries of HD
    primaries = primaries or family
    transfer = transfer or ("bt709" if family in ("bt2020", "bt709") else family)
    return Colour(matrix, primaries, transfer, rng, "; ".join(notes))


def _run(cmd: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                          start_new_session=True)


def last_line(said: Union[str, BaseException]) -> str:
    """The last non-empty line of ffmpeg's (or an exception's) words, at most 200 characters:
    their errors end with the line that says what is wrong."""
    lines = [ln.strip() for ln in str(said).strip().splitlines() if ln.strip()]
    if lines:
        return lines[-1][:200]
    return type(said).__name__ if isinstance(said, BaseException) else "ffmpeg gave no reason"


def probe(path: str) -> VideoInfo:
    """The first video stream of `path` (ProbeError if there is none or ffmpeg cannot read it)."""
    res = _run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path])
    return parse_probe(path, res.stderr)


def parse_probe(path: str, text: str) -> VideoInfo:
    """VideoInfo from `ffmpeg -hide_banner -i FILE`'s output."""
    stream, rotation, audio = None, 0.0, None
    duration = None
    for line in text.splitlines():
        dm = re.search(r"Duration: (\d+):(\d+):([\d.]+)", line)
        if dm and duration is None:
            duration = int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3))
        if stream is None:
            stream = parse_stream(line)
        elif re.search(r"rotation of (-?[\d.]+) degrees", line) and not rotation:
            rotation = float(re.search(r"rotation of (-?[\d.]+) degrees", line).group(1))
        am = re.search(r"Stream #\d+:\d+\S*: Audio: (\w+)", line)
        if am and audio is None:
            audio = am.group(1)
    if stream is None or stream["size"] is None:
        raise ProbeError(path, "no video stream" if "Input #0" in text else last_line(text))
    w, h = stream["size"]
    if round(abs(rotation)) % 180 == 90:  # ffmpeg turns the frames upright when decoding
        w, h = h, w
    pix_fmt = stream["pix_fmt"] or "yuv420p"
    fps = to_rate(float(stream["fps"])) if stream["fps"] else None
    return VideoInfo(path, stream["codec"], pix_fmt, w, h, pix_fmt_depth(pix_fmt),
                     pix_fmt_alpha(pix_fmt), resolve_colour(pix_fmt, h, stream["tags"]), fps,
                     duration, audio is not None, audio)


def parse_framecrc(text: str) -> Tuple[Fraction, List[Tuple[int, int]], Optional[Fraction]]:
    """(stream 0's time base, its [(pts, duration)] in stream order, where the other streams'
    packets end in seconds or None) from `-f framecrc` output. Packets without a time
    (printed as AV_NOPTS_VALUE, hugely negative) or before zero (pre-roll, which the decoder
    drops) are left out."""
    bases = {}
    packets = []
    others_end = None
    for line in text.splitlines():
        if line.startswith("#tb "):
            index, base = line[4:].split(":", 1)
            num, den = base.strip().split("/")
            bases[index.strip()] = Fraction(int(num), int(den))
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            if len(fields) < 5:
                continue
            if int(fields[2]) < 0:
                continue
            if fields[0] == "0":
                packets.append((int(fields[2]), int(fields[3])))
            elif fields[0] in bases:
                end = (int(fields[2]) + int(fields[3])) * bases[fields[0]]
                others_end = end if others_end is None else max(others_end, end)
    if "0" not in bases:
        raise ValueError("no time base in the packet listing")
    return bases["0"], packets, others_end


def frame_times(path: str, header_fps: Optional[Fraction] = None) -> Optional[FrameTimes]:
    """The frames' presentation times from a packet listing; None when it gives none or
    ffmpeg failed part way (then the header's rate is all there is). The listing reads the
    whole file once, before the first frame is decoded."""
    res = _run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path, "-map", "0:V:0",
                "-map", "0:a?", "-c", "copy", "-f", "framecrc", "-"])
    if res.returncode != 0:
        return None
    try:
        tb, packets, others_end = parse_framecrc(res.stdout)
    except ValueError:
        return None
    times = times_from_packets(tb, packets, header_fps)
    return replace(times, others_end=others_end) if times else None


def times_from_packets(tb: Fraction, packets: Sequence[Tuple[int, int]],
                       header_fps: Optional[Fraction] = None) -> Optional[FrameTimes]:
    """FrameTimes of packets (pts, duration) in time base `tb`. Steps that differ by at most
    one tick (a millisecond time base rounding 1/30 s to 33 or 34) are a constant rate, and
    its frames are put on the exact grid i / fps: the header's rate when every frame lies
    within a tick of its grid (the mean of a few rounded steps is no NTSC rate), else the
    rate of the steps."""
    pts = sorted(p for p, _ in packets)
    if not pts:
        return None
    first = pts[0] * tb
    if len(pts) == 1:
        fps = header_fps or Fraction(25)
        return FrameTimes((Fraction(0),), fps, True, first, 1 / fps)
    steps = [b - a for a, b in zip(pts, pts[1:])]
    span = (pts[-1] - pts[0]) * tb
    fallback = header_fps or Fraction(25)
    mean_fps = snap_rate(Fraction(len(pts) - 1) / span) if span > 0 else fallback
    if max(steps) - min(steps) <= 1 and min(steps) > 0:
        if header_fps and all(abs((p - pts[0]) * tb - i / header_fps) <= tb
                              for i, p in enumerate(pts)):
            fps = header_fps
        elif max(steps) == min(steps):
            fps = snap_rate(1 / (steps[0] * tb))
        else:
            fps = mean_fps
        times = tuple(Fraction(i) / fps for i in range(len(pts)))
        return FrameTimes(times, fps, True, first, 1 / fps)
    last = dict(packets).get(pts[-1], 0)
    last_duration = last * tb if last > 0 else 1 / mean_fps
    times = tuple((p - pts[0]) * tb for p in pts)
    return FrameTimes(times, mean_fps, False, first, last_duration)


def with_colour(colour: Colour, name: Optional[str]) -> Colour:
    """`colour` with the matrix, primaries and transfer of a --colorspace name (None or
    'input': unchanged); the range is kept, and so is an HDR (PQ/HLG) transfer: the code
    values stay PQ/HLG (no tone mapping), and an SDR tag would show them washed out."""
    if not name or name == "input":
        return colour
    matrix, primaries, transfer = NAMED[name]
    return replace(colour, matrix=matrix, primaries=primaries, assumed="",
                   transfer=colour.transfer if colour.hdr else transfer)
