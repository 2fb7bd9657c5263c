"""The parity fixtures' weight formula and case loader (see tests/fixtures/README.md)."""
from __future__ import annotations

import json
import math
import os
import zlib
from typing import Dict, List, Tuple

import numpy as np
import torch

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SALT = "amt-parity-public-v1"
CASES = ("S_basic", "S_batch_embt", "S_scale_half", "L_basic", "G_basic")
# the published configs' `losses` section, which the loss cases were computed with
PUBLISHED_LOSSES = [
    {"name": "losses.loss.CharbonnierLoss", "nickname": "l_rec",
     "params": {"loss_weight": 1.0, "keys": ["imgt_pred", "imgt"]}},
    {"name": "losses.loss.TernaryLoss", "nickname": "l_ter",
     "params": {"loss_weight": 1.0, "keys": ["imgt_pred", "imgt"]}},
    {"name": "losses.loss.MultipleFlowLoss", "nickname": "l_flo",
     "params": {"loss_weight": 0.002, "keys": ["flow0_pred", "flow1_pred", "flow"]}},
]


def key_list(variant: str) -> List[Tuple[str, List[int]]]:
    """[(name, shape), ...] of the published checkpoint, 'AMT-S' -> keys_amt_s.json."""
    path = os.path.join(FIXTURES, f"keys_amt_{variant[-1].lower()}.json")
    with open(path, encoding="utf-8") as f:
        return [(name, list(shape)) for name, shape in json.load(f)]


def parity_weights(variant: str, salt: str = SALT) -> Dict[str, torch.Tensor]:
    """Every parameter from crc32-seeded NumPy draws, exactly as the fixtures were made."""
    out = {}
    for name, shape in key_list(variant):
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


def load_cases() -> Dict[str, np.ndarray]:
    with np.load(os.path.join(FIXTURES, "cases.npz")) as data:
        return {k: data[k] for k in data.files}


def frames(x: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1], the fixtures' conversion."""
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
