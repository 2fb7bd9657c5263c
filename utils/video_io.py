"""Streaming frame input and output: video files through ffmpeg, image files by OpenCV.

Readers yield (H, W, C) RGB(A) frames one at a time: uint8 from 8-bit sources, uint16 from
deeper ones, decoded with the source's own matrix and range (utils.video_probe reads them).
The writers encode as frames arrive (H.264, H.265, FFV1, ProRes into the container the
output's extension names, or PNG/TIFF sequences into a folder), with the colour tags of the
input (or of --colorspace). Nothing holds a whole video in memory.
"""
from __future__ import annotations

import collections
import glob
import os
import subprocess
import threading
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Deque, Iterator, List, Optional, Sequence, Tuple

import cv2
import imageio_ffmpeg
import numpy as np

from utils.atomic import OutputError, describe_os_error
from utils.images import (IMAGE_EXTS, ImageReadError, full_scale, list_images, natural_key,
                          read_image, to_depth, write_image)
from utils.video_formats import (CODEC_TABLE, IMAGE_CODECS, VIDEO_CONTAINERS, Codec,
                                 default_codec, to_rate)
from utils.video_probe import (Colour, FrameTimes, ProbeError, VideoInfo, frame_times, probe,
                               with_colour)

# A video whose decoded frames fall short of its header's duration by more than this (and
# one frame) ended early: a cut-off download or copy.
SHORT_TOLERANCE = 0.02
# Frames from images (sRGB files): tagged as BT.709 video with the sRGB transfer.
IMAGE_COLOUR = Colour("bt709", "bt709", "iec61966-2-1", "tv")
# (high depth, alpha) -> the raw RGB format frames travel in between ffmpeg and numpy
RAW_FORMATS = {(False, False): "rgb24", (False, True): "rgba", (True, False): "rgb48le",
               (True, True): "rgba64le"}


class VideoIOError(ValueError):
    """Input that cannot be read."""


@dataclass
class Source:
    """Where frames come from: one video file or an ordered list of image files.
    `fps` is exact (a Fraction); `times` holds the frames' presentation times of a video
    (None for images and when the file gives none)."""
    video: Optional[str]
    images: List[str]
    fps: Optional[Fraction] = None
    frames: Optional[int] = None   # from the header: duration x fps (a truncated file has fewer)
    has_audio: bool = False
    info: Optional[VideoInfo] = None
    times: Optional[FrameTimes] = None

    @property
    def name(self) -> str:
        path = self.video or (self.images[0] if self.images else "frames")
        return os.path.splitext(os.path.basename(path))[0]

    @property
    def paths(self) -> List[str]:
        """The files read (for refusing an output that would replace one of them)."""
        return [self.video] if self.video else list(self.images)

    @property
    def colour(self) -> Colour:
        return self.info.colour if self.info else IMAGE_COLOUR

    def depth(self, first: np.ndarray) -> int:
        """Bits per sample of the source: a video's from its header (a 10-bit one decodes to
        uint16 frames), images' from the type of `first`, the first frame read."""
        if self.info:
            return self.info.depth
        return 16 if first.dtype == np.uint16 else 8

    @property
    def alpha(self) -> bool:
        return bool(self.info and self.info.alpha)


def open_source(inputs: Sequence[str]) -> Source:
    """A video, a glob pattern, a folder of images, or two or more image paths."""
    if not inputs:
        raise VideoIOError("no input given")
    if len(inputs) == 1:
        item = inputs[0]
        if os.path.isdir(item):
            images = list_images(item)
            if not images:
                raise VideoIOError(f"folder {item} holds no images ({', '.join(IMAGE_EXTS)})")
            return Source(None, images)
        if any(ch in item for ch in "*?["):
            images = sorted(glob.glob(item), key=lambda p: natural_key(os.path.basename(p)))
            if not images:
                raise VideoIOError(f"pattern {item} matches no files")
            return Source(None, images)
        if not os.path.isfile(item):
            raise VideoIOError(f"input not found: {item}")
        if item.lower().endswith(IMAGE_EXTS):
            raise VideoIOError(f"{item} is a single image; give two or more frames or a video")
        return _probe_video(item)
    missing = [p for p in inputs if not os.path.isfile(p)]
    if missing:
        raise VideoIOError(f"input not found: {missing[0]}")
    return Source(None, list(inputs))


def _probe_video(path: str) -> Source:
    try:
        info = probe(path)
    except ProbeError as e:
        raise VideoIOError(str(e)) from None
    times = frame_times(path, info.fps)
    fps = times.fps if times else info.fps
    return Source(path, [], fps, _expected_frames(info, times, fps), info.has_audio, info, times)


def _expected_frames(info: VideoInfo, times: Optional[FrameTimes],
                     fps: Optional[Fraction]) -> Optional[int]:
    """How many frames a whole file holds: from the header's duration, not a full decode, so
    that a file that decodes to fewer can be told apart as cut short. The duration is the
    longest stream's; when the audio runs on to the end (the file is whole) and the video
    stops earlier or starts later, the video's own packets are the count. The listing's times
    and the header's duration both count from the file's start (ffmpeg shifts packet times
    by the container's start time, e.g. ~1.4 s in MPEG-TS)."""
    header_fps = info.fps or fps
    if not (header_fps and info.duration and info.duration > 0):
        return None
    if times is None:
        return int(round(info.duration * header_fps))
    end = info.duration
    if times.others_end is not None and float(times.others_end) >= end * (1 - SHORT_TOLERANCE):
        return len(times.times)
    return int(round((end - float(times.first)) * header_fps))


def ended_early(src: Source, decoded: int) -> Optional[str]:
    """A note if a video decoded to clearly fewer frames than its header promises."""
    if src.video and src.frames and decoded < src.frames * (1 - SHORT_TOLERANCE) - 1:
        return f"the video ended early ({decoded} of {src.frames} frames could be decoded)"
    return None


def read_frames(src: Source, keep_alpha: bool = False) -> Iterator[np.ndarray]:
    """Frames as (H, W, C) RGB(A), uint8 or uint16 (see video_frames), each brought to the
    first one's size, depth and channel count (an image folder may mix them; the writer
    takes one kind), with a warning for each kind of change. Images are as
    utils.images.read_image gives them."""
    first = None
    noted = set()

    def note(text: str) -> None:
        if text not in noted:
            noted.add(text)
            warnings.warn(text)

    frames = (video_frames(src.video, src.info, keep_alpha=keep_alpha) if src.video
              else _image_frames(src.images))
    for frame in frames:
        if first is None:
            first = frame
            yield frame
            continue
        h, w, c = first.shape
        if frame.shape[:2] != (h, w):
            note(f"frame of size {frame.shape[1]}x{frame.shape[0]} resized to the first "
                 f"frame's {w}x{h}")
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        frame, changed = to_depth(frame, first.dtype)
        if changed:
            note(f"a frame's {changed} (the first frame's depth)")
        if frame.shape[2] > c:
            note("a frame's alpha channel was dropped (the first frame has none)")
            frame = frame[..., :c]
        elif frame.shape[2] < c:
            note("a frame without alpha was given an opaque one (the first frame has alpha)")
            opaque = np.full(frame.shape[:2] + (1,), full_scale(frame.dtype), frame.dtype)
            frame = np.concatenate([frame, opaque], axis=2)
        yield frame


def decode_filter(colour: Colour, raw: str) -> str:
    """The filter chain that turns decoded frames into `raw` RGB with the source's own matrix
    and range (ffmpeg's default would take BT.601 for every untagged file)."""
    if colour.rgb:
        return f"format={raw}"
    # swscale's default flags: accurate_rnd / full_chroma_int cost 2-3x the decode time and
    # measured no better (41.4 against 39.2 dB on a BT.709 round trip)
    return f"scale=in_color_matrix={colour.sws_matrix}:in_range={colour.range},format={raw}"


def video_frames(path: str, info: Optional[VideoInfo] = None, eight_bit: bool = False,
                 keep_alpha: bool = False) -> Iterator[np.ndarray]:
    """Every frame of a video file as (H, W, 3) RGB, or (H, W, 4) RGBA with `keep_alpha` and
    a source with alpha, decoded as it is consumed: uint8 from 8-bit sources (and with
    `eight_bit`), uint16 (0..65535) from deeper ones. Frames come in presentation order,
    one per decoded frame (no frame is dropped or repeated to fit a rate)."""
    if info is None:
        try:
            info = probe(path)
        except ProbeError as e:
            raise VideoIOError(f"cannot decode video {path}: {e.why}") from None
    # a deep source decodes at 16 bits even for 8-bit frames: swscale's own 10 -> 8 bit path
    # dithers and lands a level off on average; rounding here is exact
    high = info.depth > 8
    alpha = keep_alpha and info.alpha
    raw = RAW_FORMATS[(high, alpha)]
    channels, dtype = (4 if alpha else 3), np.dtype("<u2" if high else np.uint8)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path,
           "-map", "0:V:0", "-an", "-sn", "-vf", decode_filter(info.colour, raw),
           "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", raw, "-"]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise VideoIOError(f"cannot start the decoder: {describe_os_error(e)}") from None
    log: Deque[str] = collections.deque(maxlen=20)
    reader = threading.Thread(target=_drain, args=(proc.stderr, log), daemon=True)
    reader.start()
    size = info.width * info.height * channels * dtype.itemsize
    count = 0
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            count += 1
            frame = np.frombuffer(buf, dtype).reshape(info.height, info.width, channels)
            yield to_depth(frame, np.uint8)[0] if eight_bit else frame
        proc.wait()
        reader.join(timeout=5)
        if proc.returncode:
            said = [ln for ln in log if ln] or [f"ffmpeg exited with status {proc.returncode}"]
            what = f"cannot decode video {path}" if count == 0 else f"decoding {path} failed"
            raise VideoIOError(f"{what}: {said[-1][:200]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _drain(stream, log: Deque[str]) -> None:
    for line in iter(stream.readline, b""):
        log.append(line.decode(errors="replace").strip())
    stream.close()


def _image_frames(paths: Sequence[str]) -> Iterator[np.ndarray]:
    """Through utils.images.read_image, the reader the rest of the project uses (so EXIF
    orientation, 16-bit and alpha are treated the same everywhere)."""
    noted = set()
    for path in paths:
        try:
            img, note = read_image(path)
        except ImageReadError as e:
            raise VideoIOError(str(e)) from None
        if note and note not in noted:
            noted.add(note)
            warnings.warn(f"{os.path.basename(path)}: {note}")
        yield img


def check_writable_ext(path: str) -> None:
    """Raise OutputError unless `path`'s extension names a container the writer makes."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_CONTAINERS:
        raise OutputError(0, f"cannot write {ext or 'extension-less'} videos ({path}); "
                             f"use {', '.join(VIDEO_CONTAINERS)}")


@dataclass(frozen=True)
class OutputFormat:
    """What the writer stores: a codec at a depth, with or without alpha, the colour it
    encodes with and tags, and its quality. Made by choose_output."""
    codec: str
    depth: int
    alpha: bool
    colour: Colour
    crf: Optional[int] = None
    lossless: bool = False
    ext: str = ".mp4"
    notes: Tuple[str, ...] = field(default=(), compare=False)

    @property
    def spec(self) -> Codec:
        return CODEC_TABLE[self.codec]

    @property
    def images(self) -> bool:
        return self.codec in IMAGE_CODECS

    @property
    def rgb(self) -> bool:
        """Stored as RGB (no YCbCr matrix): FFV1 and the image sequences."""
        return self.codec in ("ffv1",) + IMAGE_CODECS

    @property
    def pix_fmt(self) -> str:
        d, a = self.depth, self.alpha
        if self.codec == "ffv1":  # its 8-bit RGB formats are the packed ones
            if d == 8:
                return "bgra" if a else "bgr0"
            return f"{'gbrap' if a else 'gbrp'}{d}le"
        if self.codec == "prores":
            return "yuva444p10le" if a else "yuv422p10le"
        if self.images:
            return RAW_FORMATS[(d > 8, a)]
        chroma = "444" if self.lossless else "420"
        return f"yuv{chroma}p" + ("" if d == 8 else f"{d}le")

    @property
    def matrix_colour(self) -> Colour:
        """The colour the YCbCr output is encoded with (an RGB source gets BT.709)."""
        if self.colour.rgb:
            return Colour("bt709", self.colour.primaries, self.colour.transfer, "tv")
        return self.colour

    def describe(self) -> str:
        """E.g. 'H.265 yuv420p10le (10-bit), bt709 matrix, bt709 primaries, ...'."""
        label = self.spec.label
        if self.codec == "prores":
            label += " 4444" if self.alpha else " 422 HQ"
        if self.lossless and self.spec.lossless == "option":
            label += " lossless"
        quality = f", crf {self.crf}" if self.crf is not None and not self.lossless else ""
        colour = self.matrix_colour.describe(rgb_output=self.rgb)
        if self.images:  # the files hold RGB and no tags
            colour = (f"RGB, untagged ({self.colour.primaries} primaries, "
                      f"{self.colour.transfer} transfer as decoded)")
        return f"{label} {self.pix_fmt} ({self.depth}-bit{', alpha' if self.alpha else ''}" \
               f"{quality}), {colour}"


def choose_output(ext: str, codec: Optional[str], source_depth: int, source_alpha: bool,
                  colour: Colour, crf: Optional[int] = None, lossless: bool = False,
                  colorspace: Optional[str] = None, keep_alpha: bool = True) -> OutputFormat:
    """The output format for a source of `source_depth` bits (with alpha or not) written to a
    file with extension `ext` ('' for an image folder). Raises OutputError (one line) for a
    codec the container cannot hold; notes say what the output could not keep."""
    ext = ext.lower()
    codec = codec or default_codec(ext, source_depth)
    spec = CODEC_TABLE[codec]
    if spec.containers and ext not in spec.containers:
        raise OutputError(0, f"--codec {codec} cannot be written as {ext or 'a folder'}; "
                             f"use {', '.join(spec.containers)}")
    if not spec.containers and ext:
        raise OutputError(0, f"--codec {codec} writes a folder of images; give -o a folder "
                             f"name without an extension (not {ext})")
    notes = []
    enough = [d for d in spec.depths if d >= source_depth]
    depth = min(enough) if enough else max(spec.depths)
    if depth < source_depth:
        deeper = [c for c in CODEC_TABLE if max(CODEC_TABLE[c].depths) >= source_depth]
        notes.append(f"{spec.label} output is {depth}-bit: the {source_depth}-bit input was "
                     f"reduced to {depth} bits (--codec {', '.join(deeper)} keep the depth)")
    alpha = source_alpha and keep_alpha and spec.alpha
    if source_alpha and not alpha:
        why = "--no-alpha" if not keep_alpha else f"{spec.label} has no alpha"
        notes.append(f"the alpha channel was dropped ({why}; --codec ffv1, prores, png or "
                     "tiff keep it)")
    if crf is None and spec.crf and not lossless:
        crf = spec.crf[2]
    out_colour = with_colour(colour, colorspace)
    if out_colour.hdr and depth < 10:
        notes.append(f"an HDR ({out_colour.transfer}) source written at 8 bits bands; "
                     "--codec libx265, ffv1 or prores keep 10 bits")
    return OutputFormat(codec, depth, alpha, out_colour, crf, lossless, ext, tuple(notes))


class VideoWriter:
    """A video written frame by frame by an ffmpeg process, as `fmt` says (default: H.264
    8-bit, BT.709); odd sides are padded to even by edge pixels where the chroma is
    subsampled (the width for 4:2:2, both for 4:2:0).
    Frames are (H, W, C) uint8 or uint16 RGB(A), C as `fmt.alpha` says. close() raises
    OutputError unless ffmpeg exited cleanly and wrote a non-empty file, so a full disk
    (even one that only shows when the trailer is written) never passes for a finished video."""

    def __init__(self, path: str, fps, size_hw: tuple, fmt: Optional[OutputFormat] = None,
                 frame_dtype=np.uint8) -> None:
        self.path = path
        self.fps = to_rate(fps)
        self.fmt = fmt or choose_output(os.path.splitext(path)[1] or ".mp4", "libx264", 8,
                                        False, IMAGE_COLOUR)
        self.h, self.w = size_hw
        # chroma at half width (4:2:2), or half width and height (4:2:0), needs those sides
        # even; 4:4:4 and RGB keep any size
        pix = self.fmt.pix_fmt
        even_w, even_h = "420" in pix or "422" in pix, "420" in pix
        self.h2, self.w2 = self.h + self.h % 2 * even_h, self.w + self.w % 2 * even_w
        self.dtype = np.dtype("<u2" if np.dtype(frame_dtype) == np.uint16 else np.uint8)
        raw = RAW_FORMATS[(self.dtype.itemsize == 2, self.fmt.alpha)]
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
               "-pix_fmt", raw, "-s", f"{self.w2}x{self.h2}", "-r", str(self.fps), "-i", "-",
               "-an", "-vf", encode_filter(self.fmt), *codec_args(self.fmt), path]
        try:
            # its own session: a Ctrl-C in the terminal reaches this process only, which
            # then closes the encoder properly instead of losing the file with it
            self._proc: Optional[subprocess.Popen] = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True)
        except OSError as e:
            raise OutputError(e.errno, f"cannot start the encoder: {describe_os_error(e)}") from e
        self._log: Deque[str] = collections.deque(maxlen=20)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.frames = 0

    def _drain(self) -> None:
        for line in iter(self._proc.stderr.readline, b""):
            self._log.append(line.decode(errors="replace").strip())

    def write(self, frame: np.ndarray) -> None:
        if self._proc is None:
            raise OutputError(0, f"cannot write {self.path}: the encoder is closed")
        channels = 4 if self.fmt.alpha else 3
        if frame.dtype != self.dtype or frame.shape[2:] != (channels,):
            # a cast would wrap 16-bit values modulo 256: refused, not written as garbage
            raise OutputError(0, f"cannot write {self.path}: a {frame.dtype} frame with "
                                 f"{frame.shape[2] if frame.ndim == 3 else 1} channels, "
                                 f"where the video takes {self.dtype.name} with {channels}")
        if (self.h2, self.w2) != (self.h, self.w):
            pad = ((0, self.h2 - self.h), (0, self.w2 - self.w), (0, 0))
            frame = np.pad(frame, pad, mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except OSError:  # the encoder died (a full disk, mostly): its own words say why
            self._finish(expect_ok=False)
        self.frames += 1

    def close(self) -> None:
        """Flush, wait for the encoder and check it; raises OutputError if the file is bad."""
        if self._proc is not None:
            self._finish(expect_ok=True)

    def abort(self) -> None:
        """Stop the encoder without checking (the file is to be thrown away)."""
        if self._proc is not None:
            self._proc.kill()
            self._finish(expect_ok=None)

    def _finish(self, expect_ok: Optional[bool]) -> None:
        proc, self._proc = self._proc, None
        try:
            proc.stdin.close()
        except OSError:
            pass
        proc.wait()
        self._reader.join(timeout=5)
        if expect_ok is None:
            return
        errors = [ln for ln in self._log if ln]
        bad = (not expect_ok or proc.returncode != 0 or errors
               or not os.path.exists(self.path) or _size(self.path) == 0)
        if bad:
            cause = _encoder_cause(errors, proc.returncode)
            raise OutputError(0, f"cannot write {self.path}: {cause}")


def encode_filter(fmt: OutputFormat) -> str:
    """RGB frames -> the stored pixel format, with the output's matrix and range, tagged."""
    if fmt.rgb:
        return f"format={fmt.pix_fmt},setparams={fmt.colour.tags(rgb_output=True)}"
    colour = fmt.matrix_colour
    return (f"scale=out_color_matrix={colour.sws_matrix}:out_range={colour.range},"
            f"format={fmt.pix_fmt},setparams={colour.tags()}")


def codec_args(fmt: OutputFormat) -> List[str]:
    """The encoder and its settings for `fmt`."""
    args = ["-pix_fmt", fmt.pix_fmt]
    if fmt.codec == "libx264":
        quality = ["-qp", "0"] if fmt.lossless else ["-crf", str(fmt.crf)]
        args = ["-c:v", "libx264", *args, *quality]
    elif fmt.codec == "libx265":
        params = "log-level=error" + (":lossless=1" if fmt.lossless else "")
        args = ["-c:v", "libx265", *args, "-x265-params", params]
        args += [] if fmt.lossless else ["-crf", str(fmt.crf)]
        if fmt.ext in (".mp4", ".mov"):
            args += ["-tag:v", "hvc1"]  # the tag Apple's players need for H.265
    elif fmt.codec == "ffv1":
        args = ["-c:v", "ffv1", *args, "-level", "3", "-g", "1"]
    elif fmt.codec == "prores":
        args = ["-c:v", "prores_ks", *args, "-profile:v", "4" if fmt.alpha else "3",
                "-vendor", "apl0"]
    return args


class ImageSequenceWriter:
    """The same interface as VideoWriter for a folder of PNG or TIFF files, 0000000.png on,
    at `fmt`'s depth, RGB or RGBA as the frames are, by utils.images.write_image. The folder
    is a temporary renamed into place as a whole, so each file is written directly."""

    def __init__(self, folder: str, fmt: OutputFormat) -> None:
        self.path, self.fmt, self.frames = folder, fmt, 0
        self.ext = ".png" if fmt.codec == "png" else ".tif"

    def write(self, frame: np.ndarray) -> None:
        path = os.path.join(self.path, f"{self.frames:07d}{self.ext}")
        write_image(path, to_depth(frame, np.uint16 if self.fmt.depth > 8 else np.uint8)[0],
                    atomic=False)
        self.frames += 1

    def close(self) -> None:
        """Nothing is buffered: each frame was complete when write returned."""

    def abort(self) -> None:
        """Nothing runs in the background."""


def _size(path: str) -> int:
    try:
        return os.path.getsize(path) if os.path.isfile(path) else 1
    except OSError:
        return 0


def _encoder_cause(errors: List[str], code: Optional[int]) -> str:
    text = " ".join(errors)
    if "No space left" in text:
        return "no space left on device"
    if "Disk quota" in text:
        return "disk quota exceeded"
    if "Permission denied" in text:
        return "permission denied"
    if errors:
        return f"the encoder said: {errors[-1][:200]}"
    return f"the encoder exited with status {code}"


def copy_audio(video_only: str, audio_source: str, output: str, video_s: float,
               offset: float = 0.0) -> Optional[str]:
    """Mux `audio_source`'s audio into `video_only` (video stream copied) as `output`; the
    video starts `offset` seconds after the source file's start (where the source's first
    frame was), so the two stay in sync, and lasts `video_s` seconds: longer audio is cut
    there, shorter audio ends early (-shortest would cut the video instead). The audio
    stream is copied where the container takes it, else encoded (AAC). Returns None on
    success, else why not (one line)."""
    why = None
    for audio in (["-c:a", "copy"], ["-c:a", "aac"]):
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
               *(["-itsoffset", f"{offset:.6f}"] if offset > 0 else []), "-i", video_only,
               "-i", audio_source, "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", *audio,
               "-t", f"{max(offset, 0.0) + video_s:.6f}", output]
        res = subprocess.run(cmd, capture_output=True, text=True, start_new_session=True)
        errors = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
        if not (res.returncode or errors):
            return None
        why = _encoder_cause(errors, res.returncode)
    return why
