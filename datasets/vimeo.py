"""Vimeo90K triplets: `sequences/<5-digit>/<4-digit>/im1.png, im2.png, im3.png` with
`tri_trainlist.txt` / `tri_testlist.txt`; im1 and im3 in, im2 the truth at t = 0.5. Pseudo
ground-truth flows for training under `flow/<seq>/<id>/flow_t0.flo, flow_t1.flo`."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
from torch.utils.data import Dataset

from datasets.augment import Augment
from datasets.common import (DatasetError, check_crop, read_frame, read_lines, require,
                             sample_rng, to_sample)
from datasets.flow_io import read_flo
from datasets.sources import FileSource, Spec, SpecDataset, first_absent
from utils.names import VIMEO_TEST_LIST

LAYOUT = ("the Vimeo90K triplet layout: ROOT/tri_trainlist.txt, tri_testlist.txt (lines like "
          "00001/0001) and ROOT/sequences/<5-digit>/<4-digit>/im1.png, im2.png, im3.png")
TRAIN_LIST, TEST_LIST = "tri_trainlist.txt", VIMEO_TEST_LIST


def read_list(root: str, list_name: str) -> List[str]:
    """The sample ids (e.g. '00001/0001') of a list file under ROOT."""
    return read_lines(os.path.join(require(root, LAYOUT), list_name), LAYOUT)


def triplet_specs(root: str, list_name: str = TEST_LIST) -> List[Spec]:
    seq = os.path.join(root, "sequences")
    return [Spec(i, os.path.join(seq, i, "im1.png"), os.path.join(seq, i, "im3.png"),
                 [(0.5, os.path.join(seq, i, "im2.png"))]) for i in read_list(root, list_name)]


def vimeo_source(root: str, list_name: str = TEST_LIST) -> FileSource:
    """The triplets of `list_name` (absent ones counted as missing)."""
    specs = triplet_specs(root, list_name)
    require(os.path.join(root, "sequences"), LAYOUT)
    return FileSource.from_specs("Vimeo90K", root, specs)


class Vimeo90KTrain(Dataset):
    """Training triplets with the published augmentations (flows too when `flow=True`)."""

    def __init__(self, dataset_dir: str, flow: bool = True, augment: bool = True,
                 crop_size: Sequence[int] = (224, 224)) -> None:
        self.augment = Augment(crop=check_crop(crop_size)) if augment else None
        self.root, self.flow = dataset_dir, flow
        self.specs = triplet_specs(dataset_dir, TRAIN_LIST)
        # the ends only: one stat per file of 51k triplets would slow every start
        absent = next(filter(None, map(first_absent, self.specs[:1] + self.specs[-1:])), None)
        if absent:
            raise DatasetError(f"{absent} not found (expected {LAYOUT})")
        if flow:
            self._check_flows()

    def _flow_paths(self, sid: str) -> List[str]:
        folder = os.path.join(self.root, "flow", sid)
        return [os.path.join(folder, "flow_t0.flo"), os.path.join(folder, "flow_t1.flo")]

    def _check_flows(self) -> None:
        """All pseudo ground-truth flows are there, checked now (one stat per file) rather
        than found missing hours into a run."""
        paths = [p for s in self.specs for p in self._flow_paths(s.name)]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise DatasetError(f"{len(missing)} of {len(paths)} flow files are missing, e.g. "
                               f"{missing[0]} (expected flow/<seq>/<id>/flow_t0.flo, flow_t1.flo; "
                               "make them with python -m datasets.flow_generation -r ROOT "
                               "--method dis, or set flow: false)")

    def __len__(self) -> int:
        return len(self.specs)

    def _flow(self, sid: str) -> Optional[np.ndarray]:
        if not self.flow:
            return None
        return np.concatenate([read_flo(p) for p in self._flow_paths(sid)], axis=-1)

    def __getitem__(self, i: int) -> Dict[str, object]:
        spec = self.specs[i]
        frames = [read_frame(p) for p in (spec.img0, spec.targets[0][1], spec.img1)]
        t, flow = 0.5, self._flow(spec.name)
        if self.augment is not None:
            frames, t, flow = self.augment(frames, t, flow, sample_rng())
        return to_sample(frames, t, flow, spec.name)


class Vimeo90KTest(SpecDataset):
    """The 3,782 test triplets as the benchmark reads them, unaugmented."""

    def __init__(self, dataset_dir: str) -> None:
        super().__init__(vimeo_source(dataset_dir))
