"""The training settings of a config, read once, cast and checked, with one-line errors.

PyYAML reads `2e-4` as a string, so every number is cast here; the config dict itself is
never mutated (the per-rank batch size is derived, not written back).
"""
from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Set

from utils.config import moved_key
from utils.names import AMP_MODES
DEVICES = ("auto", "cpu", "cuda")
DIST_BACKENDS = ("auto", "nccl", "gloo")
AUTO_WORKERS_CAP = 8  # each worker holds its own copy of the data set: past this, memory grows faster than speed


class TrainingError(ValueError):
    """A run that cannot start or go on: bad config, bad checkpoint, diverged loss."""


@dataclass(frozen=True)
class TrainSettings:
    exp_name: str
    save_dir: str
    seed: int
    epochs: int
    lr: float
    lr_min: float
    weight_decay: float
    eval_interval: int           # epochs between validations (0: never)
    batch_size: int              # global: split across processes
    num_workers: Optional[int]   # per process; None: 'auto' (see auto_workers)
    val_batch_size: int          # global
    val_num_workers: Optional[int]
    resume_state: Optional[str]
    init_weights: Optional[str]  # network weights a fresh run starts from (fine-tuning)
    amp: str                     # 'none' | 'bf16' | 'fp16'
    grad_clip: float             # max global grad norm, 0: off
    deterministic: bool
    device: str                  # 'auto' | 'cpu' | 'cuda'
    dist_backend: str            # 'auto' (NCCL on GPUs, Gloo on CPU) | 'nccl' | 'gloo'
    dist_timeout_s: float        # longest wait on the other processes before an error
    tf32: bool                   # TF32 matmuls and convolutions on Ampere and later GPUs
    log_interval: int            # iterations between log lines / scalars
    image_interval: int          # iterations between image grids (0: off)
    max_nonfinite: int           # consecutive non-finite steps that stop the run
    latest_every_iters: int      # refresh latest.pth mid-epoch (0: at epoch ends only)
    keep_every_epochs: int       # numbered epoch_XXXX.pth copies (0: off)
    keep_every_iters: int        # numbered iter_XXXXXXXX.pth copies (0: off)
    tensorboard: bool

    @property
    def run_dir(self) -> str:
        return os.path.join(self.save_dir, self.exp_name)


def _get(cfg: Mapping[str, Any], path: str, cast: Callable[[Any], Any], default: Any = None,
         check: Optional[Callable[[Any], bool]] = None, rule: str = "") -> Any:
    node: Any = cfg
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is None:
        if default is None:
            raise TrainingError(f"config is missing '{path}'{_typo_hint(cfg, path)}")
        return cast(default)
    try:
        value = cast(node)
    except (TypeError, ValueError):
        raise TrainingError(f"config '{path}' = {node!r} is not a valid {cast.__name__}") from None
    if check is not None and not check(value):
        raise TrainingError(f"config '{path}' = {node!r}: must be {rule}")
    return value


def _int(x: Any) -> int:
    if isinstance(x, bool) or float(x) != int(float(x)):
        raise ValueError(x)
    return int(float(x))


def _workers(x: Any) -> Optional[int]:
    """A loader worker count or 'auto' (None)."""
    if x == "auto":
        return None
    n = _int(x)
    if n < 0:
        raise ValueError(x)
    return n


_workers.__name__ = "worker count (an integer >= 0 or 'auto')"


def _bool(x: Any) -> bool:
    if not isinstance(x, bool):
        raise ValueError(x)
    return x


# Top-level keys of the published AMT configs that nothing here reads: accepted so that
# those files train unchanged. `distributed` (the processes come from torchrun's
# environment instead) and `logger` (their W&B section; this trainer logs to TensorBoard).
READ_ELSEWHERE = ("distributed", "logger")


class _Tracked(Mapping):
    """A read-only view of a config that records every key looked up in it (nested sections
    too), so that the keys nothing reads (typos) can be told from the valid ones without a
    second list of keys to keep in step with the reading code."""

    def __init__(self, data: Mapping[str, Any], path: str = "",
                 seen: Optional[Dict[str, Set[str]]] = None) -> None:
        self.data, self.path = data, path
        self.seen: Dict[str, Set[str]] = {} if seen is None else seen  # section -> keys read

    def __getitem__(self, key: str) -> Any:
        self.seen.setdefault(self.path, set()).add(key)
        value = self.data[key]
        return _Tracked(value, f"{self.path}{key}.", self.seen) if isinstance(value, Mapping) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return repr(self.data)


def _typo_hint(cfg: Mapping[str, Any], path: str) -> str:
    """' (found 'epoch': a typo?)' when the section of a missing key has a key close to it."""
    *parents, last = path.split(".")
    node: Any = cfg
    for part in parents:
        node = node.get(part) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return ""
    close = difflib.get_close_matches(last, [str(k) for k in node if k != last], n=1)
    return f" (found '{'.'.join([*parents, close[0]])}': a typo?)" if close else ""


def refuse_unknown_keys(cfg: Mapping[str, Any], seen: Mapping[str, Set[str]]) -> None:
    """Raise for the first key of a section that the settings read from but that nothing
    reads: such a key (`lrr: 1e-4`) would otherwise be ignored without a word."""
    for section, read in sorted(seen.items()):
        node: Any = cfg
        for part in section.split(".")[:-1]:
            node = node.get(part)
        valid = sorted(read | set(READ_ELSEWHERE if section == "" else ()))
        for key in node:
            if key in valid:
                continue
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = (f"; did you mean '{section}{close[0]}'?" if close
                    else f" (valid: {', '.join(section + v for v in valid)})")
            raise TrainingError(f"unknown config key '{section}{key}'{hint}")


def _check_network(section: Any) -> None:
    """Build the network on the meta device (no memory, no weights), so that an unknown
    variant or parameter is one line now rather than a traceback once the trainer builds it."""
    import torch
    from networks import build_model
    try:
        with torch.device("meta"):
            build_model(section)
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        reason = e.args[0] if e.args else type(e).__name__
        raise TrainingError(f"config 'network' cannot be built: {reason}") from None


def read_settings(cfg: Mapping[str, Any]) -> TrainSettings:
    """TrainSettings from a config in the published layout (plus this project's extras);
    unknown keys of the sections read here and an unbuildable network are refused."""
    moved = moved_key(cfg)
    if moved:
        raise TrainingError(moved)
    view = _Tracked(cfg)
    settings = _read(view)
    refuse_unknown_keys(cfg, view.seen)
    _check_network(cfg["network"])
    return settings


def _read(cfg: Mapping[str, Any]) -> TrainSettings:
    pos, nonneg = (lambda v: v > 0), (lambda v: v >= 0)
    finite_pos = lambda v: math.isfinite(v) and v > 0  # noqa: E731
    ckpt = cfg.get("checkpoint") or {}
    resume, init = cfg.get("resume_state"), cfg.get("init_weights")
    s = TrainSettings(
        exp_name=_get(cfg, "exp_name", str), save_dir=_get(cfg, "save_dir", str, "work_dir"),
        seed=_get(cfg, "seed", _int, 2023), epochs=_get(cfg, "epochs", _int, None, pos, "> 0"),
        lr=_get(cfg, "lr", float, None, finite_pos, "a positive number"),
        lr_min=_get(cfg, "lr_min", float, 0.0, lambda v: 0 <= v < math.inf, ">= 0"),
        weight_decay=_get(cfg, "weight_decay", float, 0.0, lambda v: 0 <= v < math.inf, ">= 0"),
        eval_interval=_get(cfg, "eval_interval", _int, 1, nonneg, ">= 0"),
        batch_size=_get(cfg, "data.train_loader.batch_size", _int, None, pos, "> 0"),
        num_workers=_get(cfg, "data.train_loader.num_workers", _workers, "auto"),
        val_batch_size=_get(cfg, "data.val_loader.batch_size", _int, 1, pos, "> 0"),
        val_num_workers=_get(cfg, "data.val_loader.num_workers", _workers, 0),
        resume_state=str(resume) if resume else None,
        init_weights=str(init) if init else None,
        amp=_get(cfg, "amp", lambda v: str(v).lower(), "none", lambda v: v in AMP_MODES,
                 f"one of {', '.join(AMP_MODES)}"),
        grad_clip=_get(cfg, "grad_clip", float, 0.0, lambda v: 0 <= v < math.inf, ">= 0"),
        deterministic=_get(cfg, "deterministic", _bool, False),
        device=_get(cfg, "device", str, "auto", lambda v: v in DEVICES, f"one of {', '.join(DEVICES)}"),
        dist_backend=_get(cfg, "dist_backend", str, "auto", lambda v: v in DIST_BACKENDS,
                          f"one of {', '.join(DIST_BACKENDS)}"),
        dist_timeout_s=_get(cfg, "dist_timeout_s", float, 600.0, finite_pos, "a positive number"),
        tf32=_get(cfg, "tf32", _bool, False),
        log_interval=_get(cfg, "log_interval", _int, 100, pos, "> 0"),
        image_interval=_get(cfg, "image_interval", _int, 0, nonneg, ">= 0"),
        max_nonfinite=_get(cfg, "max_nonfinite", _int, 10, pos, "> 0"),
        latest_every_iters=_get(ckpt, "latest_every_iters", _int, 0, nonneg, ">= 0"),
        keep_every_epochs=_get(ckpt, "keep_every_epochs", _int, 0, nonneg, ">= 0"),
        keep_every_iters=_get(ckpt, "keep_every_iters", _int, 0, nonneg, ">= 0"),
        tensorboard=_get(cfg, "tensorboard", _bool, True),
    )
    if s.lr_min > s.lr:
        raise TrainingError(f"config lr_min ({s.lr_min}) is larger than lr ({s.lr})")
    for name in ("network", "losses"):
        if not cfg.get(name):
            raise TrainingError(f"config is missing '{name}'")
    for name in ("train", "val"):
        if not isinstance((cfg.get("data") or {}).get(name), Mapping):
            raise TrainingError(f"config is missing the 'data.{name}' data set section"
                                f"{_typo_hint(cfg, f'data.{name}')}")
    return s


def auto_workers(cpu_count: Optional[int], local_size: int) -> int:
    """Loader workers per process for 'auto': this machine's cores shared by its training
    processes, at most AUTO_WORKERS_CAP; 0 (load in the training process) when there are
    fewer cores than processes."""
    return min(AUTO_WORKERS_CAP, (cpu_count or 1) // max(1, local_size))


def per_rank(global_batch: int, world_size: int, what: str = "data.train_loader.batch_size") -> int:
    """The share of one process; the global batch must split evenly so that the optimisation
    (and a resume on the same number of processes) does not depend on the split."""
    if global_batch % world_size:
        raise TrainingError(f"{what} = {global_batch} (global) does not split evenly over "
                            f"{world_size} processes")
    return global_batch // world_size
