"""Several data sets as one: `Mixed(sets=[{name, params, repeat}, ...])`.

`repeat` (default 1) lists a set that many times, which weights small real sets against
large synthetic ones. Every set must give the same keys (e.g. all with `flow`), since the
samples of one batch are stacked together.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Sequence

from torch.utils.data import ConcatDataset, Dataset

from datasets.common import DatasetError


class Mixed(ConcatDataset):
    def __init__(self, sets: Sequence[Mapping[str, Any]]) -> None:
        from datasets import DATASETS  # the registry imports this module
        from utils.registry import build_from_cfg
        if not sets:
            raise DatasetError("Mixed needs a non-empty list of data sets under params.sets")
        parts: List[Dataset] = []
        for i, section in enumerate(sets):
            section = dict(section)
            repeat = int(section.pop("repeat", 1))
            if repeat < 1:
                raise DatasetError(f"sets[{i}].repeat must be >= 1, got {repeat}")
            try:
                parts += [build_from_cfg(section, DATASETS)] * repeat
            except (KeyError, ValueError, TypeError) as e:
                raise DatasetError(f"sets[{i}]: {e.args[0] if e.args else e}") from None
        super().__init__(parts)

