"""Training checkpoints: what they hold, where they live, and which one a run resumes from.

A checkpoint is a plain dict that torch.load(weights_only=True) reads:
  state_dict  model weights (no 'module.' prefix)      optim      AdamW state
  scheduler   {'iter', 'total', 'lr', 'lr_min'}         scaler     AMP GradScaler state ({} if off)
  epoch, iter completed epochs / iterations             best_psnr  best validation PSNR so far
  rng         one capture_rng() dict per process        config     the resolved config
  meta        {'variant', 'arbitrary_time', 'world_size', 'iters_per_epoch'}
Every file is written to a temporary name and renamed, so a crash leaves the previous one.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from trainers.settings import TrainingError
from utils.checkpoint import CheckpointError, read_checkpoint, save_atomic

LATEST, BEST = "latest.pth", "best.pth"
REQUIRED = ("state_dict", "optim", "scheduler", "scaler", "epoch", "iter", "best_psnr", "rng",
            "config", "meta")


def latest_path(run_dir: str) -> str:
    return os.path.join(run_dir, LATEST)


def write(ckpt: Dict[str, Any], run_dir: str, name: str) -> str:
    path = os.path.join(run_dir, name)
    save_atomic(ckpt, path)
    return path


def epoch_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}.pth"


def iter_name(iteration: int) -> str:
    return f"iter_{iteration:08d}.pth"


def resume_path(resume: Optional[str], config_resume: Optional[str], run_dir: str) -> Optional[str]:
    """`--resume auto` -> run_dir/latest.pth when there is one, else as without it;
    `--resume PATH`, else the config's resume_state -> that file, which must exist;
    None: a fresh start."""
    if resume == "auto":
        if os.path.isfile(latest_path(run_dir)):
            return latest_path(run_dir)
        resume = None
    path = resume or config_resume
    if path and not os.path.isfile(path):
        raise TrainingError(f"checkpoint to resume from not found: {path}")
    return path or None


def read(path: str) -> Dict[str, Any]:
    """A training checkpoint with every part a resume needs."""
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as e:
        raise TrainingError(str(e)) from None
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise TrainingError(f"{path} is not a training checkpoint of this project (no "
                            f"{', '.join(missing)}) and cannot be resumed")
    return ckpt
