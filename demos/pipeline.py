"""The interpolation tool: frames in, more frames out, streaming.

Frames are read in a background thread, interpolated pair by pair and written as they go,
so memory does not grow with the length of the video. Output times are mapped onto the
source timeline: output frame k sits at source position p_k = k * src_fps / out_fps; frame
k comes from the pair (floor(p_k), floor(p_k) + 1) at t = frac(p_k), and positions that land
on a source frame copy it unchanged. The last output is the last position at or before the
last source frame (so 48 frames at 24 fps become 118 frames at 60 fps).
"""
from __future__ import annotations

import os
import queue
import shutil
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Iterator, List, Optional, Sequence

import cv2
import numpy as np
import torch
from tqdm import tqdm

from utils.checkpoint import CheckpointError
from utils.config import ConfigError
from utils.inference import (DEFAULT_CHECKPOINT, InputError, Interpolator, load_model, to_tensor,
                             to_uint8)
from utils.video_io import (Source, VideoIOError, VideoWriter, copy_audio, last_line, open_source,
                            read_frames)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DEFAULT_IMAGE_FPS = 30.0


class DemoError(ValueError):
    """Bad input or output for the interpolation tool (one line for the user)."""


@dataclass
class RunSummary:
    output: str
    frames: int = 0
    fps: float = 0.0
    weights: str = ""
    times: str = ""               # how non-midpoint times are produced
    cuts: int = 0                 # pairs treated as scene cuts (frames repeated)
    copies: int = 0               # identical pairs copied without the model
    audio: bool = False
    partial: bool = False
    images_dir: Optional[str] = None
    notes: List[str] = field(default_factory=list)


class _Baseline:
    """A model-free predictor from benchmarks.predictors behind the Interpolator's call."""
    recursive = False

    def __init__(self, predictor: Callable) -> None:
        self.predictor = predictor

    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, ts: List[float]) -> torch.Tensor:
        return self.predictor(img0, img1, list(ts))


def load_interpolator(checkpoint: Optional[str], config: Optional[str], device: str,
                      dtype: str = "fp32", scale: float = 1.0, baseline: Optional[str] = None,
                      keep_still: bool = False) -> tuple:
    """(Interpolator or baseline, description of the weights)."""
    if baseline:
        from benchmarks.core import BenchmarkError
        from benchmarks.predictors import baseline_method, still_copy
        try:
            method = baseline_method(baseline)
        except BenchmarkError as e:
            raise DemoError(str(e)) from None
        predictor = method.make(None)
        return _Baseline(still_copy(predictor) if keep_still else predictor), method.info["model"]
    if checkpoint is None and config is None and not os.path.isfile(DEFAULT_CHECKPOINT):
        model = load_model(variant="AMT-S", device=device)
        label = "randomly initialised AMT-S (no checkpoint given and none bundled: output is not meaningful)"
    else:
        model = load_model(checkpoint, config, device=device)
        label = f"{model.variant} from {model.checkpoint}" if model.checkpoint else \
            f"randomly initialised {model.variant} (config without checkpoint)"
    ip = Interpolator(model, device, DTYPES[dtype], scale_factor=scale, keep_still=keep_still)
    return ip, label


def timeline(src_fps: Fraction, out_fps: Fraction) -> Iterator[Fraction]:
    """Source positions of output frames 0, 1, 2, ..."""
    k = 0
    while True:
        yield k * src_fps / out_fps
        k += 1


def is_scene_cut(a: np.ndarray, b: np.ndarray, threshold: float) -> bool:
    """Colour-histogram distance of downscaled frames (0 = same, 1 = disjoint) > threshold."""
    def hist(x: np.ndarray) -> np.ndarray:
        small = cv2.resize(x, (64, 64), interpolation=cv2.INTER_AREA)
        h = [np.bincount(small[..., c].ravel() // 16, minlength=16) for c in range(3)]
        return np.concatenate(h).astype(np.float64) / small[..., 0].size
    return 0.5 * np.abs(hist(a) - hist(b)).sum() / 3 > threshold


def _background(items: Iterable, maxsize: int = 4) -> Iterator:
    """Iterate `items` in a thread, through a bounded queue (errors re-raised here)."""
    q: "queue.Queue" = queue.Queue(maxsize)
    done = object()
    stop = threading.Event()

    def fill() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    thread = threading.Thread(target=fill, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class _Output:
    """The MP4 (and optional PNG sequence), written in a background thread."""

    def __init__(self, path: str, fps: float, size_hw: tuple, images_dir: Optional[str]) -> None:
        self.tmp = f"{path}.partial.mp4"
        self.writer = VideoWriter(self.tmp, fps, size_hw)
        self.images_dir = images_dir
        if images_dir:
            os.makedirs(images_dir, exist_ok=True)
        self.q: "queue.Queue" = queue.Queue(8)
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            frame = self.q.get()
            if frame is None:
                return
            if self.error is not None:
                continue
            try:
                if self.images_dir:
                    cv2.imwrite(os.path.join(self.images_dir, f"{self.writer.frames:07d}.png"),
                                cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                self.writer.write(frame)
            except (OSError, ValueError, BrokenPipeError) as e:
                self.error = e

    def put(self, frame: np.ndarray) -> None:
        if self.error is not None:
            raise DemoError(f"writing the output failed: {self.error}")
        self.q.put(frame)

    def close(self) -> int:
        self.q.put(None)
        self.thread.join()
        self.writer.close()
        return self.writer.frames


def run(inputs: Sequence[str], output: str, n_iter: int = 1, fps: Optional[float] = None,
        factor: Optional[int] = None, frame_rate: Optional[float] = None,
        checkpoint: Optional[str] = None, config: Optional[str] = None, device: str = "cpu",
        dtype: str = "fp32", scale: float = 1.0, save_images: bool = False, gif: bool = False,
        scene_detect: bool = True, scene_threshold: float = 0.35,
        progress: Optional[Callable[[int, int], None]] = None,
        baseline: Optional[str] = None, keep_still: bool = False) -> RunSummary:
    """Interpolate `inputs` (a video, a glob, a folder, or 2+ images) into the MP4 `output`.

    The output rate is `fps`, or `factor` x the source rate, or 2^n_iter x the source rate.
    `frame_rate` (the published -r) is the rate the 2^n frames are played at; None or 0
    keeps the source timing (source fps x 2^n; 30 fps x 2^n for images). `keep_still` copies
    the pixels that are identical in both frames of a pair (utils.inference.keep_still).
    """
    try:
        return _run(inputs, output, n_iter, fps, factor, frame_rate, checkpoint, config, device,
                    dtype, scale, save_images, gif, scene_detect, scene_threshold, progress,
                    baseline, keep_still)
    except (VideoIOError, InputError, CheckpointError, ConfigError) as e:
        raise DemoError(str(e)) from None


def _rates(src: Source, n_iter: int, fps: Optional[float], factor: Optional[int],
           frame_rate: Optional[float]) -> tuple:
    """(source fps, timeline output fps, playback fps) as exact fractions where it matters."""
    src_fps = Fraction(src.fps or DEFAULT_IMAGE_FPS).limit_denominator(1001)
    if fps is not None:
        if fps <= 0:
            raise DemoError(f"--fps must be positive, got {fps}")
        out = Fraction(fps).limit_denominator(1001)
        return src_fps, out, out
    if factor is not None:
        if factor < 1:
            raise DemoError(f"--factor must be a whole number >= 1, got {factor}")
        return src_fps, src_fps * factor, src_fps * factor
    if not 0 <= n_iter <= 8:
        raise DemoError(f"-n must be between 0 and 8, got {n_iter}")
    out = src_fps * 2 ** n_iter
    play = Fraction(frame_rate).limit_denominator(1001) if frame_rate else out
    return src_fps, out, play


def _run(inputs, output, n_iter, fps, factor, frame_rate, checkpoint, config, device, dtype,
         scale, save_images, gif, scene_detect, scene_threshold, progress, baseline,
         keep_still) -> RunSummary:
    src = open_source(inputs)
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as e:
            raise DemoError(f"cannot create output folder {out_dir}: {e.strerror}") from None
    if not os.access(out_dir, os.W_OK):
        raise DemoError(f"output folder {out_dir} is not writable")
    src_fps, out_fps, play_fps = _rates(src, n_iter, fps, factor, frame_rate)
    ip, weights = load_interpolator(checkpoint, config, device, dtype, scale, baseline, keep_still)
    summary = RunSummary(output, fps=float(play_fps), weights=weights,
                         times="recursive 2x (fixed-time model)" if ip.recursive else "direct t")
    if baseline and (checkpoint or config):
        summary.notes.append(f"--baseline {baseline}: the checkpoint/config were not used")
    if keep_still:
        summary.notes.append("--keep-still: pixels identical in both frames of a pair are copied")
    n_src = src.frames if src.frames else (len(src.images) or None)
    total = int((n_src - 1) * out_fps / src_fps) + 1 if n_src else None
    frames = _background(read_frames(src))
    try:
        first = next(frames)
    except StopIteration:
        raise DemoError("the input has no frames") from None
    images_dir = os.path.splitext(output)[0] + "_frames" if save_images else None
    sink = _Output(output, float(play_fps), first.shape[:2], images_dir)
    bar = tqdm(total=total, unit="frame", desc="interpolating", dynamic_ncols=True)
    try:
        _interpolate_stream(first, frames, ip, timeline(src_fps, out_fps), sink, summary,
                            scene_detect, scene_threshold, bar, progress, total)
    except KeyboardInterrupt:
        summary.partial = True
        summary.notes.append("interrupted: the frames done so far were kept")
        raise
    except (VideoIOError, OSError, RuntimeError) as e:
        summary.partial = True
        summary.notes.append(f"input broke off ({last_line(e)}): "
                             "the frames done so far were kept")
    finally:
        bar.close()
        summary.frames = sink.close()
        _finish(src, sink.tmp, output, summary, src_fps, play_fps, out_fps)
        summary.images_dir = images_dir
        if gif and summary.frames:
            _write_gif(output, summary)
    if summary.frames < 2 and not summary.partial:
        raise DemoError("the input has a single frame; interpolation needs at least two")
    return summary


def _interpolate_stream(first, frames, ip, positions, sink, summary, scene_detect,
                        scene_threshold, bar, progress, total) -> None:
    prev, index = first, 0
    pos = next(positions)
    for frame in frames:
        ts = []
        while pos < index + 1:
            ts.append(pos - index)
            pos = next(positions)
        for out in _pair_frames(prev, frame, ts, ip, summary, scene_detect, scene_threshold):
            sink.put(out)
            bar.update(1)
            if progress:
                progress(bar.n, total or bar.n)
        prev, index = frame, index + 1
    if index == 0:
        return
    if pos == index:  # the last output lands exactly on the last source frame
        sink.put(prev)
        bar.update(1)
        if progress:
            progress(bar.n, total or bar.n)


def _pair_frames(a: np.ndarray, b: np.ndarray, ts: List[Fraction], ip: Interpolator,
                 summary: RunSummary, scene_detect: bool, threshold: float) -> List[np.ndarray]:
    """Output frames for the pair (a, b) at times ts (t = 0 is `a` itself)."""
    inner = [t for t in ts if t != 0]
    if not inner:
        return [a for _ in ts]
    if np.array_equal(a, b):
        summary.copies += 1
        made = {t: a for t in inner}
    elif scene_detect and is_scene_cut(a, b, threshold):
        summary.cuts += 1
        made = {t: (a if t < Fraction(1, 2) else b) for t in inner}
    else:
        out = ip.interpolate(to_tensor(a), to_tensor(b), [float(t) for t in inner])
        made = {t: to_uint8(out[i]) for i, t in enumerate(inner)}
    return [a if t == 0 else made[t] for t in ts]


def _finish(src: Source, tmp: str, output: str, summary: RunSummary, src_fps: Fraction,
            play_fps: Fraction, out_fps: Fraction) -> None:
    """Move the finished (or partial) video into place, with the source's audio when the
    output keeps the source's duration."""
    if not os.path.exists(tmp):
        return
    keeps_duration = play_fps == out_fps
    if src.video and src.has_audio and keeps_duration and not summary.partial:
        if copy_audio(tmp, src.video, output):
            summary.audio = True
            os.remove(tmp)
            return
        summary.notes.append("the audio track could not be copied")
    shutil.move(tmp, output)


def _write_gif(output: str, summary: RunSummary) -> None:
    import imageio.v3 as iio
    gif_path = os.path.splitext(output)[0] + ".gif"
    frames = list(read_frames(open_source([output])))
    iio.imwrite(gif_path, np.stack(frames), duration=1000 / max(summary.fps, 1), loop=0)
    summary.notes.append(f"GIF written to {gif_path}")
