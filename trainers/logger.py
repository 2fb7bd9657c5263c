"""What a run reports: a plain text log, TensorBoard scalars and image grids (process 0 only).

Each log line is flushed as it is written so that a killed run keeps every line it printed.
"""
from __future__ import annotations

import os
import re
import sys
import time
from typing import Dict, Mapping, Optional

import torch
from torchvision.utils import flow_to_image, make_grid
from tqdm import tqdm

LOG_NAME = "train_log.txt"
STEP_LINE = re.compile(r" iter (\d+)/\d+ epoch \d+ loss (\S+)")


def logged_losses(run_dir: str) -> Dict[int, float]:
    """{iteration: loss} from a run's text log; a step logged twice (recomputed after a
    resume) keeps its last value."""
    out: Dict[int, float] = {}
    with open(os.path.join(run_dir, LOG_NAME), encoding="utf-8") as f:
        for line in f:
            m = STEP_LINE.search(line)
            if m:
                out[int(m.group(1))] = float(m.group(2))
    return out


class RunLog:
    """Text log (+ stderr) and TensorBoard writer; every method is a no-op off process 0."""

    def __init__(self, run_dir: str, active: bool, tensorboard: bool) -> None:
        self.active = active
        self.file = None
        self.tb = None
        if not active:
            return
        os.makedirs(run_dir, exist_ok=True)
        self.file = open(os.path.join(run_dir, LOG_NAME), "a", encoding="utf-8", buffering=1)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy import, only when used
            self.tb = SummaryWriter(os.path.join(run_dir, "tb"))

    def info(self, message: str, echo: bool = True) -> None:
        if not self.active:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        self.file.write(line + "\n")
        if echo:
            tqdm.write(line, file=sys.stderr)  # above the progress bar, not through it

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(key, value, step)

    def images(self, tag: str, grid: torch.Tensor, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, grid, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.file is not None:
            self.file.close()


def flow_colour(flow: torch.Tensor) -> torch.Tensor:
    """(2, H, W) flow -> (3, H, W) float colour image in [0, 1] (Middlebury colour wheel)."""
    return flow_to_image(flow.detach().float().cpu()).float() / 255


def sample_grid(batch: Mapping[str, torch.Tensor], out: Mapping[str, object],
                index: int = 0) -> torch.Tensor:
    """One row for sample `index`: inputs, prediction, truth, then the predicted t->0 and t->1
    flows (first of the N candidates) and the pseudo truth flows when the batch has them."""
    tiles = [batch["img0"][index], batch["img1"][index], out["imgt_pred"][index], batch["imgt"][index]]
    tiles = [t.detach().float().cpu().clamp(0, 1) for t in tiles]
    flows: Dict[str, Optional[torch.Tensor]] = {}
    if "flow0_pred" in out:
        flows["f0"] = out["flow0_pred"][0][index, 0]
        flows["f1"] = out["flow1_pred"][0][index, 0]
    if "flow" in batch:
        flows["g0"], flows["g1"] = batch["flow"][index, 0:2], batch["flow"][index, 2:4]
    tiles += [flow_colour(f) for f in flows.values()]
    return make_grid(torch.stack(tiles), nrow=len(tiles), padding=2)
