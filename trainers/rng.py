"""Random state: seeding, and capture/restore in a form torch.load(weights_only=True) accepts
(tensors, numbers, strings, lists and dicts only)."""
from __future__ import annotations

import random
from typing import Any, Dict, Optional

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def capture_rng(generator: Optional[torch.Generator] = None) -> Dict[str, Any]:
    """Python, NumPy, torch CPU (+ CUDA) and a loader generator's states."""
    version, mt, gauss = random.getstate()
    npstate = np.random.get_state(legacy=False)
    state: Dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
        "numpy": {"key": torch.from_numpy(npstate["state"]["key"].astype(np.int64)),
                  "pos": int(npstate["state"]["pos"]), "has_gauss": int(npstate["has_gauss"]),
                  "gauss": float(npstate["gauss"])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng(state: Dict[str, Any], generator: Optional[torch.Generator] = None) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
                         "has_gauss": npy["has_gauss"], "gauss": npy["gauss"]})
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][:torch.cuda.device_count()])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed that depends only on the run seed, the epoch and the sample index."""
    return int(np.random.SeedSequence([seed % 2 ** 32, epoch, index]).generate_state(1)[0])
