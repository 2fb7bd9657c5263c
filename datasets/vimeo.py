"""Vimeo90K triplets: `sequences/<5-digit>/<4-digit>/im1.png, im2.png, im3.png` with
`tri_trainlist.txt` / `tri_testlist.txt`; pseudo ground-truth flows for training under
`flow/<seq>/<id>/flow_t0.flo, flow_t1.flo`."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
from torch.utils.data import Dataset

from datasets.augment import Augment
from datasets.common import (DatasetError, check_crop, read_frame, require_dir, require_file,
                             sample_rng, to_sample)
from datasets.flow_io import read_flo

LAYOUT = "sequences/<5-digit>/<4-digit>/im1.png, im2.png, im3.png and tri_{train,test}list.txt"


def read_list(root: str, list_name: str) -> List[str]:
    path = require_file(os.path.join(require_dir(root, LAYOUT), list_name), LAYOUT)
    with open(path, encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise DatasetError(f"{path} lists no samples")
    return ids


class _Vimeo90K(Dataset):
    list_name = ""

    def __init__(self, dataset_dir: str, flow: bool = False) -> None:
        self.root = dataset_dir
        self.ids = read_list(dataset_dir, self.list_name)
        self.flow = flow
        missing = [i for i in self.ids[:1] + self.ids[-1:]
                   if not os.path.isfile(os.path.join(dataset_dir, "sequences", i, "im1.png"))]
        if missing:
            raise DatasetError(f"{os.path.join(dataset_dir, 'sequences', missing[0])} has no "
                               f"im1.png (expected {LAYOUT})")
        if flow:
            self._check_flows()

    def _flow_paths(self, sid: str) -> List[str]:
        folder = os.path.join(self.root, "flow", sid)
        return [os.path.join(folder, "flow_t0.flo"), os.path.join(folder, "flow_t1.flo")]

    def _check_flows(self) -> None:
        """All pseudo ground-truth flows are there, checked now (one stat per file) rather
        than found missing hours into a run."""
        paths = [p for sid in self.ids for p in self._flow_paths(sid)]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise DatasetError(f"{len(missing)} of {len(paths)} flow files are missing, e.g. "
                               f"{missing[0]} (expected flow/<seq>/<id>/flow_t0.flo, flow_t1.flo; "
                               "make them with python -m datasets.flow_generation -r ROOT --method dis or set flow: false)")

    def __len__(self) -> int:
        return len(self.ids)

    def _frames(self, sid: str) -> List[np.ndarray]:
        folder = os.path.join(self.root, "sequences", sid)
        return [read_frame(os.path.join(folder, n)) for n in ("im1.png", "im2.png", "im3.png")]

    def _flow(self, sid: str) -> Optional[np.ndarray]:
        if not self.flow:
            return None
        return np.concatenate([read_flo(p) for p in self._flow_paths(sid)], axis=-1)


class Vimeo90KTrain(_Vimeo90K):
    """Training triplets with the published augmentations (flows too when `flow=True`)."""
    list_name = "tri_trainlist.txt"

    def __init__(self, dataset_dir: str, flow: bool = True, augment: bool = True,
                 crop_size: Sequence[int] = (224, 224)) -> None:
        self.augment = Augment(crop=check_crop(crop_size)) if augment else None
        super().__init__(dataset_dir, flow)

    def __getitem__(self, i: int) -> Dict[str, object]:
        sid = self.ids[i]
        frames, t, flow = self._frames(sid), 0.5, self._flow(sid)
        if self.augment is not None:
            frames, t, flow = self.augment(frames, t, flow, sample_rng())
        return to_sample(frames, t, flow, sid)


class Vimeo90KTest(_Vimeo90K):
    """The 3,782 test triplets, unaugmented (flows only if asked for)."""
    list_name = "tri_testlist.txt"

    def __getitem__(self, i: int) -> Dict[str, object]:
        sid = self.ids[i]
        return to_sample(self._frames(sid), 0.5, self._flow(sid), sid)
