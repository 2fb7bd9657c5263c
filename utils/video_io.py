"""Streaming frame input and output: video files through ffmpeg, image files by OpenCV.

Readers yield (H, W, 3) uint8 RGB frames one at a time; the writer encodes H.264 (yuv420p)
as frames arrive, into the container the output's extension names. Nothing holds a whole
video in memory.
"""
from __future__ import annotations

import collections
import glob
import os
import subprocess
import threading
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Deque, Iterator, List, Optional, Sequence

import cv2
import imageio_ffmpeg
import numpy as np

from utils.atomic import OutputError, describe_os_error
from utils.images import IMAGE_EXTS, ImageReadError, list_images, natural_key, read_image
from utils.names import VIDEO_EXTS

# Containers that hold the H.264 stream the writer makes (the others need other codecs).
WRITABLE_EXTS = (".mp4", ".m4v", ".mkv", ".mov", ".avi")
# A video whose decoded frames fall short of its header's duration by more than this (and
# one frame) ended early: a cut-off download or copy.
SHORT_TOLERANCE = 0.02


class VideoIOError(ValueError):
    """Input that cannot be read."""


@dataclass
class Source:
    """Where frames come from: one video file or an ordered list of image files."""
    video: Optional[str]
    images: List[str]
    fps: Optional[float] = None
    frames: Optional[int] = None   # from the header: duration x fps (a truncated file has fewer)
    has_audio: bool = False

    @property
    def name(self) -> str:
        path = self.video or (self.images[0] if self.images else "frames")
        return os.path.splitext(os.path.basename(path))[0]

    @property
    def paths(self) -> List[str]:
        """The files read (for refusing an output that would replace one of them)."""
        return [self.video] if self.video else list(self.images)


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
        gen = imageio_ffmpeg.read_frames(path)
        meta = next(gen)
        gen.close()
    except (OSError, RuntimeError, StopIteration) as e:
        raise VideoIOError(f"cannot read video {path}: {last_line(e)}") from None
    fps = float(meta.get("fps") or 0) or None
    duration = float(meta.get("duration") or 0)
    # The header's count, not a full decode: it is what a whole file holds, so a file that
    # decodes to fewer frames can be told apart as cut short.
    count = int(round(duration * fps)) if fps and duration > 0 else None
    return Source(path, [], fps, count, bool(meta.get("audio_codec")))


def ended_early(src: Source, decoded: int) -> Optional[str]:
    """A note if a video decoded to clearly fewer frames than its header promises."""
    if src.video and src.frames and decoded < src.frames * (1 - SHORT_TOLERANCE) - 1:
        return f"the video ended early ({decoded} of {src.frames} frames could be decoded)"
    return None


def last_line(e: BaseException) -> str:
    """FFmpeg's errors end with the line that says what is wrong."""
    lines = str(e).strip().splitlines()
    return lines[-1][:200] if lines else type(e).__name__


def read_frames(src: Source) -> Iterator[np.ndarray]:
    """Frames as (H, W, 3) uint8 RGB, each converted and resized to the first one's size."""
    first_size = None
    for frame in (video_frames(src.video) if src.video else _image_frames(src.images)):
        if first_size is None:
            first_size = frame.shape[:2]
        elif frame.shape[:2] != first_size:
            warnings.warn(f"frame of size {frame.shape[1]}x{frame.shape[0]} resized to the first "
                          f"frame's {first_size[1]}x{first_size[0]}")
            frame = cv2.resize(frame, (first_size[1], first_size[0]), interpolation=cv2.INTER_AREA)
        yield frame


def video_frames(path: str) -> Iterator[np.ndarray]:
    """Every frame of a video file as (H, W, 3) uint8 RGB, decoded as it is consumed."""
    gen = imageio_ffmpeg.read_frames(path, pix_fmt="rgb24")
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as e:
        gen.close()
        raise VideoIOError(f"cannot decode video {path}: {last_line(e)}") from None
    w, h = meta["size"]
    try:
        for buf in gen:
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
    except (OSError, RuntimeError) as e:
        raise VideoIOError(f"decoding {path} failed: {last_line(e)}") from None
    finally:
        gen.close()


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
    if ext not in WRITABLE_EXTS:
        raise OutputError(0, f"cannot write {ext or 'extension-less'} videos ({path}); "
                             f"use {', '.join(WRITABLE_EXTS)}")


class VideoWriter:
    """H.264/yuv420p video written frame by frame by an ffmpeg process; odd sizes are padded
    to even by edge pixels. close() raises OutputError unless ffmpeg exited cleanly and wrote
    a non-empty file, so a full disk (even one that only shows when the trailer is written)
    never passes for a finished video."""

    def __init__(self, path: str, fps: float, size_hw: tuple, crf: int = 10) -> None:
        self.path, self.fps = path, fps
        self.h, self.w = size_hw
        self.h2, self.w2 = self.h + self.h % 2, self.w + self.w % 2
        rate = Fraction(fps).limit_denominator(1001)
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-s", f"{self.w2}x{self.h2}", "-r", str(rate), "-i", "-",
               "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), path]
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
        if (self.h2, self.w2) != (self.h, self.w):
            frame = np.pad(frame, ((0, self.h2 - self.h), (0, self.w2 - self.w), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
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


def copy_audio(video_only: str, audio_source: str, output: str) -> Optional[str]:
    """Mux `audio_source`'s audio into `video_only` (video stream copied) as `output`.
    Returns None on success, else why not (one line)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", video_only,
           "-i", audio_source, "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac",
           "-shortest", output]
    res = subprocess.run(cmd, capture_output=True, text=True, start_new_session=True)
    errors = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
    if res.returncode or errors:
        return _encoder_cause(errors, res.returncode)
    return None
