"""Arbitrary-time (8x) sets: GoPro `train|test/<video>/<frames>.png` and Adobe240
`<video>/<frames>.png`. Each sorted video is cut into 9-frame windows with stride 8: frames
0 and 8 are the inputs and frame k the truth at t = k/8."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence, Tuple

from torch.utils.data import Dataset

from datasets.augment import Augment
from datasets.common import DatasetError, check_crop, read_frame, require_dir, sample_rng, to_sample
from utils.images import list_images, natural_key

WINDOW = 9


def windows(videos: Sequence[str], layout: str) -> List[Tuple[str, List[str]]]:
    """(video name, 9 frame paths) for every full window of every video folder."""
    out = []
    for video in videos:
        frames = list_images(video)
        for start in range(0, len(frames) - WINDOW + 1, WINDOW - 1):
            out.append((os.path.basename(video), frames[start:start + WINDOW]))
    if not out:
        raise DatasetError(f"no 9-frame windows found (expected {layout})")
    return out


def video_folders(root: str, layout: str) -> List[str]:
    names = sorted((n for n in os.listdir(require_dir(root, layout))
                    if os.path.isdir(os.path.join(root, n))), key=natural_key)
    if not names:
        raise DatasetError(f"{root} has no video folders (expected {layout})")
    return [os.path.join(root, n) for n in names]


class _Windows(Dataset):
    """Training: a random k in 1..7 per sample. Test: every (window, k) pair."""

    def __init__(self, items: List[Tuple[str, List[str]]], train: bool,
                 augment: bool, crop_size: Optional[Sequence[int]]) -> None:
        self.items, self.train = items, train
        self.augment = Augment(crop=check_crop(crop_size) if crop_size else None) if augment else None

    def __len__(self) -> int:
        return len(self.items) * (1 if self.train else WINDOW - 2)

    def __getitem__(self, i: int) -> Dict[str, object]:
        rng = sample_rng()
        if self.train:
            (video, paths), k = self.items[i], int(rng.integers(1, WINDOW - 1))
        else:
            (video, paths), k = self.items[i // (WINDOW - 2)], i % (WINDOW - 2) + 1
        frames, t = [read_frame(paths[0]), read_frame(paths[k]), read_frame(paths[-1])], k / (WINDOW - 1)
        if self.augment is not None:
            frames, t, _ = self.augment(frames, t, None, rng)
        return to_sample(frames, t, name=f"{video}/{os.path.basename(paths[k])}")


GOPRO_LAYOUT = "train/<video>/<frames>.png and test/<video>/<frames>.png"


class GoProTrain(_Windows):
    def __init__(self, dataset_dir: str, augment: bool = True,
                 crop_size: Sequence[int] = (224, 224)) -> None:
        root = os.path.join(dataset_dir, "train")
        super().__init__(windows(video_folders(root, GOPRO_LAYOUT), GOPRO_LAYOUT), True,
                         augment, crop_size)


class GoProTest(_Windows):
    def __init__(self, dataset_dir: str, crop_size: Optional[Sequence[int]] = None) -> None:
        root = os.path.join(dataset_dir, "test")
        super().__init__(windows(video_folders(root, GOPRO_LAYOUT), GOPRO_LAYOUT), False,
                         False, None)
        self.crop = crop_size


ADOBE_LAYOUT = "<video>/<frames>.png extracted at 240 fps"


class Adobe240Test(_Windows):
    """Every 10th video of the *sorted* listing (the published code used an unsorted one)."""

    def __init__(self, dataset_dir: str, every: int = 10) -> None:
        videos = video_folders(dataset_dir, ADOBE_LAYOUT)[::every]
        super().__init__(windows(videos, ADOBE_LAYOUT), False, False, None)
