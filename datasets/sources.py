"""Test sets as samples: image files listed up front and read lazily, or a video decoded once.

A set's module (datasets.vimeo, datasets.gopro, ...) knows its layout and turns it into
`Spec`s; a `FileSource` over them feeds the evaluation core (utils.evaluation.evaluate), and a
`SpecDataset` over the same specs feeds training validation, so both read a set alike.
A source is an iterable of `Sample` with `len()`, plus what the reports need: the set's name,
how many listed samples are absent (`missing`), the target times and notes.
"""
from __future__ import annotations

import copy
import dataclasses
import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from torch.utils.data import Dataset

from datasets.common import DatasetError, LayoutError, read_frame, to_sample
from utils.evaluation.core import EvaluationError, Sample, centre_crop
from utils.images import list_images, read_rgb
from utils.video_io import VideoIOError, open_source, video_frames

FrameOp = Callable[[np.ndarray], np.ndarray]
SIZE_2K = (2048, 1080)  # (W, H): the 2K of the Xiph and X4K1000FPS protocols


def resize_area(size_wh: Tuple[int, int]) -> FrameOp:
    """Resizes 8-bit frames with area interpolation, as the Xiph 2K protocol does."""
    def op(img: np.ndarray) -> np.ndarray:
        if (img.shape[1], img.shape[0]) == tuple(size_wh):
            return img
        return cv2.resize(img, tuple(size_wh), interpolation=cv2.INTER_AREA)
    return op


@dataclass
class Spec:
    """One sample as files: two inputs and the truths at their times."""
    name: str
    img0: str
    img1: str
    targets: List[Tuple[float, str]]

    def paths(self) -> List[str]:
        return [self.img0, self.img1] + [p for _, p in self.targets]


def first_absent(spec: Spec) -> Optional[str]:
    return next((p for p in spec.paths() if not os.path.isfile(p)), None)


@dataclass
class FileSource:
    """Samples from image files. Absent samples are counted, not listed as samples."""
    name: str
    root: str
    specs: List[Spec]
    missing: int = 0
    first_missing: Optional[str] = None
    notes: List[str] = field(default_factory=list)
    frame_op: Optional[FrameOp] = None
    cache_size: int = 4  # neighbouring samples share frames (Xiph, GoPro windows)

    @classmethod
    def from_specs(cls, name: str, root: str, specs: Sequence[Spec], **kw) -> "FileSource":
        """Splits the specs into present ones and a count of those with a file missing."""
        present, missing, first = [], 0, None
        for spec in specs:
            absent = first_absent(spec)
            if absent is None:
                present.append(spec)
            else:
                missing, first = missing + 1, first or absent
        return cls(name, root, present, missing, first, **kw)

    @property
    def times(self) -> List[float]:
        return sorted({t for s in self.specs for t, _ in s.targets})

    def __len__(self) -> int:
        return len(self.specs)

    def head(self, n: int) -> "FileSource":
        return dataclasses.replace(self, specs=self.specs[:n])

    def __iter__(self) -> Iterator[Sample]:
        cache: "OrderedDict[str, np.ndarray]" = OrderedDict()

        def load(path: str) -> np.ndarray:
            if path not in cache:
                img = read_rgb(path)
                cache[path] = self.frame_op(img) if self.frame_op else img
                if len(cache) > self.cache_size + 2:
                    cache.popitem(last=False)
            return cache[path]

        for s in self.specs:
            yield Sample(s.name, load(s.img0), load(s.img1), [(t, load(p)) for t, p in s.targets])


def frame_windows(n: int, factor: int, stride: int) -> List[int]:
    """Start indices of the windows of factor + 1 frames among n frames, `stride` apart."""
    return list(range(0, n - factor, stride))


def window_specs(frames: Sequence[str], factor: int, prefix: str,
                 stride: Optional[int] = None) -> List[Spec]:
    """Windows of factor + 1 consecutive frames (stride `factor` unless given): the ends in,
    the inner frame k is the truth at t = k / factor (factor 2: frame i from i - 1 and i + 1)."""
    specs = []
    for start in frame_windows(len(frames), factor, stride or factor):
        window = frames[start:start + factor + 1]
        targets = [(k / factor, window[k]) for k in range(1, factor)]
        name = f"{prefix}{_stem(window[0])}-{_stem(window[-1])}"
        specs.append(Spec(name, window[0], window[-1], targets))
    return specs


def frame_name(path: str) -> str:
    """'<video>/<frame file>': one frame of a window, by name."""
    return f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def folder_windows(root: str, videos: Sequence[str], factor: int) -> List[Spec]:
    """window_specs over each video folder ROOT/<video>/ (sorted frames), names 'video/frame'."""
    specs = []
    for video in videos:
        specs += window_specs(list_images(os.path.join(root, video)), factor, f"{video}/")
    return specs


class VideoSource:
    """Windows of a video file, decoded once, streaming (frames held: one window).

    Frames are 8-bit RGB from utils.video_io.video_frames, the reader the interpolation tool
    uses: the stream's own matrix and range, and for untagged files what players assume
    (BT.709 from 720 lines, BT.601 below), so a score is of the pixels a user sees. Deeper
    sources are rounded to 8 bits from their 16-bit decode."""

    def __init__(self, path: str, factor: int = 2, start: int = 0, end: Optional[int] = None,
                 stride: Optional[int] = None) -> None:
        self.name, self.root, self.path = os.path.basename(path), path, path
        self.factor, self.stride = factor, stride or factor
        self.missing, self.first_missing, self.notes = 0, None, []
        try:
            src = open_source([path])
        except VideoIOError as e:
            raise LayoutError(str(e)) from None
        self.info = src.info
        # the packet count: one per decoded frame (the reader passes every frame through)
        total = len(src.times.times) if src.times else (src.frames or 0)
        last = total - 1 if end is None else min(end, total - 1)
        if start < 0 or start > last:
            raise DatasetError(f"frame range {start}..{end} is outside the video's {total} frames")
        self.start, self.end, self.total = start, last, total
        self.starts = [start + s for s in frame_windows(last - start + 1, factor, self.stride)]

    @property
    def times(self) -> List[float]:
        return [k / self.factor for k in range(1, self.factor)]

    def __len__(self) -> int:
        return len(self.starts)

    def head(self, n: int) -> "VideoSource":
        clone = copy.copy(self)
        clone.starts = self.starts[:n]
        return clone

    def __iter__(self) -> Iterator[Sample]:
        reader = video_frames(self.path, self.info, eight_bit=True)
        try:
            window: deque = deque(maxlen=self.factor + 1)
            todo = deque(self.starts)
            for index, frame in enumerate(reader):
                if index > self.end or not todo:
                    break
                if index < self.start:
                    continue
                window.append((index, frame.copy()))
                if window[0][0] == todo[0] and len(window) == self.factor + 1:
                    todo.popleft()
                    frames = [f for _, f in window]
                    yield Sample(f"{self.name}:{window[0][0]:06d}-{window[-1][0]:06d}",
                                 frames[0], frames[-1],
                                 [(k / self.factor, frames[k]) for k in range(1, self.factor)])
        finally:
            reader.close()


Source = Union[FileSource, VideoSource]


def check_complete(source: Source, allow_missing: bool = False, hint: str = "") -> None:
    """Stops on an empty set, and on a partially present one unless that is allowed."""
    total = len(source) + source.missing
    if len(source) == 0:
        raise LayoutError(f"no complete samples under {source.root}"
                          + (f" ({source.missing} incomplete, first missing file: "
                             f"{source.first_missing})" if source.missing else ""))
    if source.missing and not allow_missing:
        raise LayoutError(f"{source.missing} of {total} {source.name} samples are missing under "
                          f"{source.root} (first missing file: {source.first_missing})"
                          + (f"; {hint}" if hint else ""))


class SpecDataset(Dataset):
    """A complete FileSource as the training sample dicts, one per (spec, target): what
    training validation reads, frame for frame the benchmark's samples (crop included)."""

    def __init__(self, source: FileSource, crop: Optional[Sequence[int]] = None) -> None:
        check_complete(source)
        self.source = source
        self.crop = (int(crop[0]), int(crop[1])) if crop else None
        self.items = [(s, j) for s in source.specs for j in range(len(s.targets))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Dict[str, object]:
        spec, j = self.items[i]
        t, truth = spec.targets[j]
        frames = [read_frame(p) for p in (spec.img0, truth, spec.img1)]
        if self.source.frame_op is not None:
            frames = [self.source.frame_op(f) for f in frames]
        sample = to_sample(frames, t, name=spec.name if len(spec.targets) == 1 else frame_name(truth))
        if self.crop:  # the protocol's own crop, so both score the same pixels
            try:
                for key in ("img0", "imgt", "img1"):
                    sample[key] = centre_crop(sample[key], self.crop)
            except EvaluationError as e:  # a DatasetError stays one line from a loader worker
                raise DatasetError(f"{spec.name}: {e} (crop_size)") from None
        return sample
