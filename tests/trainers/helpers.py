"""Tiny training runs for the trainer tests: photos, configs and log parsing."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from typing import Dict, List

import cv2
import numpy as np

from tests.parity import PUBLISHED_LOSSES
from trainers.logger import LOG_NAME, logged_losses  # noqa: F401  (used by the tests)
from utils.config import save_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_photos(folder: str, n: int = 3, size: int = 160) -> str:
    """A folder of smooth random colour images (the synthetic set cuts its layers from them)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        coarse = rng.uniform(0, 255, (size // 16, size // 16, 3)).astype(np.float32)
        img = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
        img += rng.normal(0, 12, img.shape)  # fine texture for the census loss to see
        cv2.imwrite(os.path.join(folder, f"photo{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return folder


def tiny_config(root: str, **changes) -> Dict:
    """AMT-S on 128x128 synthetic samples, global batch 2; `changes` replace top-level keys."""
    photos = write_photos(os.path.join(root, "photos"))
    synthetic = {"photo_dir": photos, "size": [128, 128], "max_motion": 4.0}
    cfg = {
        "exp_name": "run", "seed": 7, "epochs": 2, "lr": 5e-4, "lr_min": 5e-5, "weight_decay": 0.0,
        "save_dir": os.path.join(root, "runs"), "eval_interval": 1, "device": "cpu",
        "log_interval": 1, "image_interval": 2, "tensorboard": True, "deterministic": False,
        "checkpoint": {"latest_every_iters": 2, "keep_every_epochs": 1, "keep_every_iters": 0},
        "network": {"name": "AMT-S", "params": {"corr_radius": 3, "corr_lvls": 4, "num_flows": 3}},
        "data": {
            "train": {"name": "SyntheticMotion", "params": {**synthetic, "length": 4}},
            "val": {"name": "SyntheticMotion",
                    "params": {**synthetic, "length": 2, "augment": False, "seed": 1}},
            "train_loader": {"batch_size": 2, "num_workers": 0},
            "val_loader": {"batch_size": 2, "num_workers": 0},
        },
        "losses": copy.deepcopy(PUBLISHED_LOSSES),
    }
    cfg.update(changes)
    return cfg


def write_config(cfg: Dict, path: str) -> str:
    save_config(cfg, path)
    return path


def run_dir(cfg: Dict) -> str:
    return os.path.join(cfg["save_dir"], cfg["exp_name"])


def log_lines(run: str, needle: str) -> List[str]:
    with open(os.path.join(run, LOG_NAME), encoding="utf-8") as f:
        return [line for line in f if needle in line]


def env() -> Dict[str, str]:
    """One thread per process: the same arithmetic in every run, and light on a shared CPU."""
    path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)


def train_cmd(config: str, *extra: str) -> List[str]:
    return [sys.executable, os.path.join(REPO, "train.py"), "-c", config, *extra]


def torchrun_cmd(nproc: int, script: str, *args: str) -> List[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", script, *args]


def run(cmd: List[str], timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env(), cwd=REPO, capture_output=True, text=True, timeout=timeout)
