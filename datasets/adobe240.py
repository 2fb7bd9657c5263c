"""Adobe240 8x: `<video>/<frames>.png` extracted at 240 fps, scored with the GoPro protocol
(windows of 9 frames with stride 8, the centre 512x512 crop) on every 10th video. The AMT code
took every 10th video of an unsorted directory listing, which differs between file systems;
here the videos are sorted by name first (reports say so)."""
from __future__ import annotations

from typing import Optional, Sequence

from datasets.common import DatasetError, list_dirs
from datasets.gopro import CROP, FACTOR
from datasets.sources import FileSource, SpecDataset, folder_windows

LAYOUT = "the Adobe240 layout: ROOT/<video>/<frames>.png (frames extracted at 240 fps)"


def adobe240_source(root: str, every: int = 10) -> FileSource:
    if every < 1:
        raise DatasetError(f"every must be at least 1 (every N-th video), got {every}")
    videos = list_dirs(root, LAYOUT)
    chosen = videos[::every]
    source = FileSource.from_specs("Adobe240", root, folder_windows(root, chosen, FACTOR))
    source.notes.append(f"videos sorted by name, every {every}th taken: {len(chosen)} of "
                        f"{len(videos)} (the AMT code used an unsorted listing)")
    return source


class Adobe240Test(SpecDataset):
    """Every (window, k) of every `every`-th sorted video, as the benchmark scores it (centre
    `crop_size`, the protocol's 512x512 unless given; null for whole frames)."""

    def __init__(self, dataset_dir: str, every: int = 10,
                 crop_size: Optional[Sequence[int]] = CROP) -> None:
        super().__init__(adobe240_source(dataset_dir, every), crop_size)
