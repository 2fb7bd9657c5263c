"""Training: `trainers.run(cfg, resume)` trains a config on one process or under torchrun."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from trainers.distributed import close_world, init_world
from trainers.settings import TrainingError, TrainSettings, read_settings
from trainers.stopping import Stopped
from trainers.trainer import Trainer

__all__ = ["Stopped", "Trainer", "TrainingError", "TrainSettings", "read_settings", "run"]


def run(cfg: Mapping[str, Any], resume: Optional[str] = None) -> Dict[str, float]:
    """Train `cfg` to its last epoch in this process (one of torchrun's, or alone)."""
    s = read_settings(cfg)  # the process-group options, and bad configs fail before joining
    world = init_world(s.device, s.dist_timeout_s, s.dist_backend)
    try:
        return Trainer(cfg, s, world, resume).fit()
    finally:
        close_world(world)
