"""The parity fixtures' weight formula and case loader (see tests/fixtures/README.md)."""
from __future__ import annotations

import os
from typing import Dict, List, Tuple

import numpy as np
import torch

from utils import parity
from utils.parity import SALT, frames  # noqa: F401  (re-exported for the tests)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
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
    return parity.key_list(FIXTURES, variant)


def parity_weights(variant: str, salt: str = SALT) -> Dict[str, torch.Tensor]:
    return parity.parity_weights(FIXTURES, variant, salt)


def load_cases() -> Dict[str, np.ndarray]:
    return parity.load_cases(FIXTURES)
