"""GoPro 8x (11 test videos, 1280x720 at 240 fps): `train|test/<video>/<frames>.png`. Each
sorted video is cut into windows of 9 frames with stride 8: frames 0 and 8 in, frame k the
truth at t = k/8. The test protocol of the AMT paper scores the centre 512x512 crop."""
from __future__ import annotations

import os
from typing import Dict, Optional, Sequence

from torch.utils.data import Dataset

from datasets.augment import Augment
from datasets.common import check_crop, list_dirs, read_frame, require, sample_rng, to_sample
from datasets.sources import FileSource, SpecDataset, check_complete, folder_windows, frame_name

FACTOR, CROP, TEST_VIDEOS = 8, (512, 512), 11
LAYOUT = "the GoPro layout: ROOT/train/<video>/<frames>.png and ROOT/test/<video>/<frames>.png"


def gopro_source(root: str, split: str = "test") -> FileSource:
    """Every 9-frame window of every video of the split."""
    folder = os.path.join(require(root, LAYOUT), split)
    videos = list_dirs(folder, LAYOUT)
    source = FileSource.from_specs("GoPro", root, folder_windows(folder, videos, FACTOR))
    if split == "test" and len(videos) != TEST_VIDEOS:
        source.notes.append(f"{len(videos)} test videos found (the GoPro test split has "
                            f"{TEST_VIDEOS})")
    return source


class GoProTrain(Dataset):
    """The training windows, one sample each with a random k in 1..7 per draw."""

    def __init__(self, dataset_dir: str, augment: bool = True,
                 crop_size: Sequence[int] = (224, 224)) -> None:
        source = gopro_source(dataset_dir, "train")
        check_complete(source)
        self.specs = source.specs
        self.augment = Augment(crop=check_crop(crop_size) if crop_size else None) if augment else None

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, i: int) -> Dict[str, object]:
        rng = sample_rng()
        spec = self.specs[i]
        t, truth = spec.targets[int(rng.integers(0, len(spec.targets)))]
        frames = [read_frame(p) for p in (spec.img0, truth, spec.img1)]
        if self.augment is not None:
            frames, t, _ = self.augment(frames, t, None, rng)
        return to_sample(frames, t, name=frame_name(truth))


class GoProTest(SpecDataset):
    """Every (window, k) of the test split as the benchmark scores it: the centre
    `crop_size` (the protocol's 512x512 unless given; null for whole frames)."""

    def __init__(self, dataset_dir: str, crop_size: Optional[Sequence[int]] = CROP) -> None:
        super().__init__(gopro_source(dataset_dir, "test"), crop_size)
