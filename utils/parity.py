"""The parity fixtures' deterministic weights and cases (the published network's outputs,
made without its weights); used by the tests and by benchmarks/gpu_check.py."""
from __future__ import annotations

import json
import math
import os
import zlib
from typing import Dict, List, Tuple

import numpy as np
import torch

SALT = "amt-parity-public-v1"


def key_list(fixtures: str, variant: str) -> List[Tuple[str, List[int]]]:
    """[(name, shape), ...] of the published checkpoint, 'AMT-S' -> keys_amt_s.json."""
    path = os.path.join(fixtures, f"keys_amt_{variant[-1].lower()}.json")
    with open(path, encoding="utf-8") as f:
        return [(name, list(shape)) for name, shape in json.load(f)]


def parity_weights(fixtures: str, variant: str, salt: str = SALT) -> Dict[str, torch.Tensor]:
    """Every parameter from crc32-seeded NumPy draws, exactly as the fixtures were made."""
    out = {}
    for name, shape in key_list(fixtures, variant):
        rng = np.random.default_rng(zlib.crc32(f"{salt}:{name}".encode()))
        n = int(np.prod(shape))
        if len(shape) >= 2:
            w = rng.standard_normal(n) * (0.5 / math.sqrt(int(np.prod(shape[1:]))))
        elif name.endswith("bias"):
            w = rng.uniform(-0.1, 0.1, n)
        else:
            w = rng.uniform(0.05, 0.3, n)
        out[name] = torch.from_numpy(w.reshape(shape).astype(np.float32))
    return out


def load_cases(fixtures: str) -> Dict[str, np.ndarray]:
    with np.load(os.path.join(fixtures, "cases.npz")) as data:
        return {k: data[k] for k in data.files}


def frames(x: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1], the fixtures' conversion."""
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
