"""Several data sets as one: `Mixed(sets=[{name, params, repeat}, ...])`.

`repeat` (default 1) lists a set that many times, which weights small real sets against
large synthetic ones. `still_p` (default 0) turns that fraction of the set's samples into
still ones: the middle frame three times over, with zero flow. Without them a model never
sees a frame that does not move, and its output on one is not an exact copy (a trained AMT-S
gave 49.4 dB for a frame given as both inputs), which costs the most on the easiest frames,
where averaging and DIS flow score 50 dB. Every set
must give the same keys (e.g. all with `flow`), since the samples of one batch are stacked
together.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

import torch
from torch.utils.data import ConcatDataset, Dataset

from datasets.common import DatasetError, probability


def _number(value: Any, kind: type, name: str) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{name} must be a number, got {value!r}") from None
    if kind is int and not number.is_integer():  # int(2.5) would quietly weight the set 2x
        raise DatasetError(f"{name} must be a whole number, got {value!r}")
    return kind(number)


class StillFrames(Dataset):
    """`dataset` with a fraction `p` of its samples made still (see the module docstring)."""

    def __init__(self, dataset: Dataset, p: float) -> None:
        self.dataset, self.p = dataset, float(p)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Dict[str, object]:
        sample = dict(self.dataset[i])
        # torch's RNG, so the trainer's per-sample seeding makes the choice reproducible
        if float(torch.rand(())) < self.p:
            sample["img0"], sample["img1"] = sample["imgt"].clone(), sample["imgt"].clone()
            if "flow" in sample:
                sample["flow"] = torch.zeros_like(sample["flow"])
        return sample


class Mixed(ConcatDataset):
    def __init__(self, sets: Sequence[Mapping[str, Any]]) -> None:
        from datasets import DATASETS  # the registry imports this module
        from utils.registry import build_from_cfg
        if not sets:
            raise DatasetError("Mixed needs a non-empty list of data sets under params.sets")
        parts: List[Dataset] = []
        for i, section in enumerate(sets):
            section = dict(section)
            repeat = _number(section.pop("repeat", 1), int, f"sets[{i}].repeat")
            if repeat < 1:
                raise DatasetError(f"sets[{i}].repeat must be >= 1, got {repeat}")
            name = f"sets[{i}].still_p"
            still_p = probability(_number(section.pop("still_p", 0.0), float, name), name)
            try:
                part = build_from_cfg(section, DATASETS)
            except (KeyError, ValueError, TypeError) as e:
                raise DatasetError(f"sets[{i}]: {e.args[0] if e.args else e}") from None
            parts += [StillFrames(part, still_p) if still_p > 0 else part] * repeat
        super().__init__(parts)

