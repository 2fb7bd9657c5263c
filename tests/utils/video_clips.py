"""Clips made with the ffmpeg that imageio-ffmpeg bundles, and a decoder that does not use
the project's reader: it reads the tags itself and passes them to ffmpeg's scale filter, so
the tests check the project against ffmpeg, not against itself."""
import re
import subprocess
from typing import List, Optional

import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
TAGS = {"bt709": ("bt709", "bt709", "bt709", "bt709"),
        "bt601": ("smpte170m", "smpte170m", "smpte170m", "bt601"),
        "pq": ("bt2020nc", "bt2020", "smpte2084", "bt2020")}


def make_clip(path, size="320x240", rate="25", frames=6, tags: Optional[str] = "bt709",
              pix_fmt="yuv420p", codec=("libx264", "-crf", "8"), source="testsrc2",
              audio_s: Optional[float] = None, geq: Optional[str] = None) -> str:
    """A clip of `source` (a lavfi video source; `geq` draws on it at the clip's depth)
    encoded with the matrix of `tags` (None: ffmpeg's default BT.601, untagged) and tagged
    with it."""
    vf = [f"format={pix_fmt}", f"geq={geq}"] if geq else []
    if tags:
        matrix, primaries, transfer, sws = TAGS[tags]
        vf += [f"scale=out_color_matrix={sws}:out_range=tv", f"format={pix_fmt}",
               f"setparams=color_primaries={primaries}:color_trc={transfer}:"
               f"colorspace={matrix}:range=tv"]
    else:
        vf += [f"format={pix_fmt}"]
    cmd = [FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}"]
    if audio_s:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={audio_s}", "-c:a", "aac"]
    cmd += ["-frames:v", str(frames), "-vf", ",".join(vf), "-c:v", *codec, str(path)]
    subprocess.run(cmd, check=True)
    return str(path)


def make_vfr_clip(path, frames=20, audio=True) -> str:
    """320x240 with frames alternately 60 and 20 ms apart (times 0, 60, 80, 140, ... ms),
    and a 440 Hz tone as long as the video."""
    cmd = [FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={frames * 0.04 + 0.2}",
                "-c:a", "aac", "-shortest"]
    cmd += ["-frames:v", str(frames), "-vf", r"settb=1/1000,setpts=(N+0.5*mod(N\,2))*40",
            "-fps_mode", "passthrough", "-enc_time_base", "1/1000", "-c:v", "libx264",
            "-crf", "8", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True)
    return str(path)


def info_text(path) -> str:
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr


def video_line(path) -> str:
    return next(ln for ln in info_text(path).splitlines() if "Video:" in ln)


def decode_as_tagged(path, bits=8) -> np.ndarray:
    """(N, H, W, 3) RGB decoded with the stream's own matrix and range, or for an untagged
    stream what players assume (BT.709 from 720 lines, else BT.601)."""
    line = video_line(path)
    w, h = map(int, re.search(r", (\d+)x(\d+)", line).groups())
    found = re.search(r"\b(?:yuv|gbr|rgb|bgr|gray)\w*\(([^)]*)\)", line)
    words = found.group(1).split(",") if found else []
    tags = words[1].strip().split("/")[0] if len(words) > 1 else ""
    matrix = {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601",
              "bt2020nc": "bt2020"}.get(tags, "bt709" if h >= 720 else "bt601")
    rng = "pc" if "(pc" in line else "tv"
    fmt, dtype = ("rgb24", np.uint8) if bits == 8 else ("rgb48le", np.dtype("<u2"))
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-vf",
                          f"scale=in_color_matrix={matrix}:in_range={rng},format={fmt}",
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype).reshape(-1, h, w, 3)


def frame_times(path) -> List[float]:
    """Presentation times (s) of the video packets, sorted."""
    out = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                          "-f", "framecrc", "-"], capture_output=True, text=True).stdout
    tb = re.search(r"#tb 0: (\d+)/(\d+)", out).groups()
    rows = [ln.split(",") for ln in out.splitlines() if ln and not ln.startswith("#")]
    return sorted(int(r[2]) * int(tb[0]) / int(tb[1]) for r in rows)


def duration(path) -> float:
    """Seconds of the container (ffmpeg's Duration line)."""
    hh, mm, ss = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info_text(path)).groups()
    return int(hh) * 3600 + int(mm) * 60 + float(ss)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak ** 2 / mse)
