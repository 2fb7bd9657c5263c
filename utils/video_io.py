"""Streaming frame input and output: video files through imageio-ffmpeg, image files by OpenCV.

Readers yield (H, W, 3) uint8 RGB frames one at a time; the writer encodes H.264 MP4
(yuv420p) as frames arrive. Nothing holds a whole video in memory.
"""
from __future__ import annotations

import glob
import os
import subprocess
import warnings
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence

import cv2
import imageio_ffmpeg
import numpy as np

from utils.images import IMAGE_EXTS, list_images, natural_key

VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m", ".mpg", ".mpeg", ".gif")


class VideoIOError(ValueError):
    """Input that cannot be read or output that cannot be written."""


@dataclass
class Source:
    """Where frames come from: one video file or an ordered list of image files."""
    video: Optional[str]
    images: List[str]
    fps: Optional[float] = None
    frames: Optional[int] = None   # known or estimated count
    has_audio: bool = False

    @property
    def name(self) -> str:
        path = self.video or (self.images[0] if self.images else "frames")
        return os.path.splitext(os.path.basename(path))[0]


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
    try:
        count = imageio_ffmpeg.count_frames_and_secs(path)[0]
    except (OSError, RuntimeError):
        count = None
    return Source(path, [], fps, count, bool(meta.get("audio_codec")))


def last_line(e: Exception) -> str:
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
    finally:
        gen.close()


def _image_frames(paths: Sequence[str]) -> Iterator[np.ndarray]:
    noted = set()
    for path in paths:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise VideoIOError(f"cannot read image {path}")
        img, note = to_rgb8(img)
        if note and note not in noted:
            noted.add(note)
            warnings.warn(f"{os.path.basename(path)}: {note}")
        yield img


def to_rgb8(img: np.ndarray) -> tuple:
    """OpenCV's BGR(A)/grey, 8 or 16 bit -> (H, W, 3) uint8 RGB and a note of what changed."""
    notes = []
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257).round().astype(np.uint8)
        notes.append("16-bit converted to 8-bit")
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32) * (255 if img.max() <= 1 else 1), 0, 255).astype(np.uint8)
        notes.append(f"{img.dtype} converted to 8-bit")
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        notes.append("grey converted to RGB")
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        notes.append("alpha channel dropped")
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img), ", ".join(notes)


class VideoWriter:
    """H.264/yuv420p MP4 written frame by frame; odd sizes are padded to even by edge pixels."""

    def __init__(self, path: str, fps: float, size_hw: tuple, quality: int = 8) -> None:
        self.path, self.fps = path, fps
        self.h, self.w = size_hw
        self.h2, self.w2 = self.h + self.h % 2, self.w + self.w % 2
        self._gen = imageio_ffmpeg.write_frames(
            path, (self.w2, self.h2), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
            quality=quality, macro_block_size=1, ffmpeg_log_level="error")
        self._gen.send(None)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if (self.h2, self.w2) != (self.h, self.w):
            frame = np.pad(frame, ((0, self.h2 - self.h), (0, self.w2 - self.w), (0, 0)), mode="edge")
        self._gen.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None


def copy_audio(video_only: str, audio_source: str, output: str) -> bool:
    """Mux `audio_source`'s audio into `video_only` (video stream copied) as `output`."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", video_only,
           "-i", audio_source, "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac",
           "-shortest", output]
    return subprocess.run(cmd, capture_output=True).returncode == 0
