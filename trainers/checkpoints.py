"""Training checkpoints: what they hold, where they live, and which one a run resumes from.

A checkpoint is a plain dict that torch.load(weights_only=True) reads:
  state_dict  model weights (no 'module.' prefix)      optim      AdamW state
  scheduler   {'iter', 'total', 'lr', 'lr_min'}         scaler     AMP GradScaler state ({} if off)
  epoch, iter completed epochs / iterations             best_psnr  best validation PSNR so far
  rng         one capture_rng() dict per process        config     the resolved config
  meta        {'variant', 'arbitrary_time', 'world_size', 'iters_per_epoch'}
Every file is written through utils.atomic (a temporary name, then one rename), so a crash or a
full disk leaves the previous one; a killed writer's temporaries go at the next start.
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, Optional

from trainers.settings import TrainingError
from utils.atomic import OutputError, pid_alive, describe_os_error, discard, remove_orphans, temp_name
from utils.checkpoint import CheckpointError, read_checkpoint, save_atomic

LATEST, BEST = "latest.pth", "best.pth"
REQUIRED = ("state_dict", "optim", "scheduler", "scaler", "epoch", "iter", "best_psnr", "rng",
            "config", "meta")


def latest_path(run_dir: str) -> str:
    return os.path.join(run_dir, LATEST)


def write(ckpt: Dict[str, Any], run_dir: str, name: str) -> str:
    path = os.path.join(run_dir, name)
    try:
        save_atomic(ckpt, path)
    except OutputError as e:
        raise TrainingError(f"{e}; the previous {name}, if any, is kept") from None
    return path


# temporaries of earlier versions: ".latest.pth.tmp<pid>" (checkpoints), "config.yaml.tmp<pid>"
_OLD_TEMPORARY = re.compile(r"^\.?.+\.(?:pth|yaml|sha256)\.tmp(\d+)$")


def remove_old_temporaries(run_dir: str) -> int:
    """Delete the temporary files of killed saves in `run_dir` (each can be a whole
    checkpoint), in utils.atomic's naming and in the earlier one. Returns how many."""
    removed = remove_orphans(run_dir)
    try:
        names = os.listdir(run_dir)
    except OSError:
        return removed
    for name in names:
        m = _OLD_TEMPORARY.match(name)
        path = os.path.join(run_dir, name)
        if m and os.path.isfile(path) and not pid_alive(int(m.group(1))):
            discard(path)
            removed += 1
    return removed


def prepare_run_dir(run_dir: str) -> None:
    """Create `run_dir` and prove that a file can be written there, so an unusable save_dir
    fails in one line before anything is built rather than at the first save."""
    try:
        os.makedirs(run_dir, exist_ok=True)
        discard(temp_name(os.path.join(run_dir, LATEST)))
    except OSError as e:
        blocker = _file_in_path(run_dir)
        cause = f"{blocker} is a file, not a folder" if blocker else describe_os_error(e)
        raise TrainingError(f"cannot use the run folder {run_dir} (save_dir/exp_name): "
                            f"{cause}") from None
    remove_old_temporaries(run_dir)


def _file_in_path(path: str) -> Optional[str]:
    """The first existing non-folder on the way to `path`, if any."""
    path = os.path.abspath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts) + 1):
        head = os.sep.join(parts[:i])
        if os.path.lexists(head) and not os.path.isdir(head):
            return head
    return None


def epoch_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}.pth"


def iter_name(iteration: int) -> str:
    return f"iter_{iteration:08d}.pth"


def resume_path(resume: Optional[str], config_resume: Optional[str], run_dir: str) -> Optional[str]:
    """`--resume auto` -> run_dir/latest.pth when there is one, else as without it;
    `--resume PATH`, else the config's resume_state -> that file, which must exist;
    None: a fresh start. The run folder is made ready (and cleared of killed saves' temporaries)
    first."""
    prepare_run_dir(run_dir)
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
