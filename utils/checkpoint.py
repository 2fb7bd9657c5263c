"""Checkpoint I/O: the one loader for published, bare, DDP-prefixed and this project's files."""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import zipfile
from typing import Any, Dict, Mapping, Optional, Set, Tuple

import torch

from networks.amt import AMT, VARIANTS
from utils.atomic import OutputError, atomic_open, describe_os_error, write_text


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, of an unknown layout or of the wrong variant."""


# The AMT authors' published files, by the names this project's configs and commands use
# (README "Published weights"; pretrained/README.md). They are not shipped, so a newcomer who
# copies a command line meets them missing first.
PUBLISHED_FILES = ("amt-s.pth", "amt-l.pth", "amt-g.pth", "gopro_amt-s.pth")
PUBLISHED_HINT = ("the published AMT weights are not shipped: download {name} by hand from the "
                  "AMT authors' model zoo (the README of github.com/MCG-NKU/AMT) and save it as "
                  "{path} (see pretrained/README.md); without -p the demos and benchmarks use "
                  "the bundled pretrained/amt-s-open.pth")


def not_found_message(path: str) -> str:
    """One line for a checkpoint path that is not a file, with the next step when it names
    one of the published files."""
    name = os.path.basename(path)
    if name in PUBLISHED_FILES:
        return f"checkpoint not found: {path}; " + PUBLISHED_HINT.format(name=name, path=path)
    return f"checkpoint not found: {path}"


def _os_error_in(e: BaseException) -> Optional[OSError]:
    """The OSError behind an exception, if any (torch wraps failed writes in RuntimeErrors)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def save_atomic(obj: Any, path: str) -> None:
    """torch.save through utils.atomic: a crash or a full disk never leaves half a file, and
    the previous file stays. Raises OutputError with a one-line cause."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise OutputError(e.errno, f"cannot write {path}: {describe_os_error(e)}") from None
    try:
        # an open file rather than a path: torch then surfaces the OSError (e.g. ENOSPC)
        # instead of its own "file write failed" RuntimeErrors
        with atomic_open(path, "wb") as f:
            torch.save(obj, f)
    except RuntimeError as e:
        cause = _os_error_in(e)
        if cause is None:
            raise
        raise OutputError(cause.errno, f"cannot write {path}: {describe_os_error(cause)}") from None


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str) -> None:
    """Checks `path` against `path.sha256` (as `sha256sum` writes it) when that file exists."""
    record = path + ".sha256"
    if not os.path.isfile(record):
        return
    with open(record) as f:
        words = f.read().split()
    if not words:
        raise CheckpointError(f"{record} is empty")
    if sha256_file(path) != words[0].lower():
        raise CheckpointError(f"{path} does not match its recorded sha256 ({record}): "
                              "the file is corrupt or was replaced")


def write_sha256(path: str) -> str:
    """Writes `path.sha256` in `sha256sum` format; returns the digest."""
    digest = sha256_file(path)
    write_text(path + ".sha256", f"{digest}  {os.path.basename(path)}\n")
    return digest


def read_checkpoint(path: str) -> Dict[str, Any]:
    """torch.load(weights_only=True) with one-line errors for every way a file can be bad;
    verified against `path.sha256` first when there is one."""
    if not os.path.isfile(path):
        raise CheckpointError(not_found_message(path))
    verify_sha256(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError,
            OSError, AttributeError, TypeError, IndexError, KeyError) as e:
        raise CheckpointError(_unreadable(path, e)) from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict")
    return dict(obj)


_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\x00-\x1f\x7f]+")
# torch's refusal names the offending global after this; the rest of its text is advice to
# load with weights_only=False, which would run whatever code the file holds
_REFUSED_GLOBAL = re.compile(r"WeightsUnpickler error:\s*([^.]*)")


def _clean(text: str) -> str:
    """One printable line: terminal escapes and control characters become single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _unreadable(path: str, e: BaseException) -> str:
    text = str(e)
    if isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in text:
        found = _REFUSED_GLOBAL.search(text)
        detail = f" ({_clean(found.group(1))[:200]})" if found else ""
        return (f"{path} holds Python objects besides tensors and plain values{detail}; "
                "it is not loaded, since unpickling them could run any code")
    reason = _clean(text.strip().splitlines()[0]) if text.strip() else type(e).__name__
    return f"{path} is not a readable PyTorch checkpoint (truncated or another format?): {reason[:200]}"


def first_non_finite(state_dict: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The name of the first floating-point tensor holding a NaN or an infinity, else None."""
    for key, value in state_dict.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return key
    return None


def extract_state_dict(obj: Mapping[str, Any], path: str = "checkpoint") -> Dict[str, torch.Tensor]:
    """The model weights inside a loaded checkpoint, as float32 tensors without 'module.'."""
    sd = obj.get("state_dict", obj)
    if not isinstance(sd, Mapping) or not sd:
        raise CheckpointError(f"{path} has no model weights ('state_dict' missing or empty)")
    out = {}
    for key, value in sd.items():
        if not torch.is_tensor(value):
            raise CheckpointError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor "
                                  f"(not a model state dict)")
        key = key[len("module."):] if key.startswith("module.") else key
        out[key] = value.float() if value.is_floating_point() else value
    bad = first_non_finite(out)
    if bad is not None:
        # such weights make every output pixel NaN (black frames) without any error
        raise CheckpointError(f"{path} holds non-finite weights (NaN or inf), first in {bad!r}: "
                              "the run that wrote it diverged; use an earlier checkpoint")
    return out


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Model weights from any supported checkpoint file."""
    return extract_state_dict(read_checkpoint(path), path)


def _expected_shapes(variant: str) -> Dict[str, Tuple[int, ...]]:
    with torch.device("meta"):
        model = AMT(variant)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def mismatched_names(expected: Mapping[str, Tuple[int, ...]],
                     state_dict: Mapping[str, torch.Tensor]) -> Set[str]:
    """Names missing from `state_dict`, extra in it, or of another shape than `expected`."""
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    return {k for k in expected if shapes.get(k) != expected[k]} | (set(shapes) - set(expected))


def describe_mismatch(wrong: Set[str]) -> str:
    """'N names or shapes differ, e.g. a, b, c'."""
    return f"{len(wrong)} names or shapes differ, e.g. {', '.join(sorted(wrong)[:3])}"


def infer_variant(state_dict: Mapping[str, torch.Tensor], path: str = "checkpoint") -> str:
    """Which of AMT-S/L/G the weights belong to, from their names and shapes."""
    best, best_missing = "", None
    for variant in VARIANTS:
        wrong = mismatched_names(_expected_shapes(variant), state_dict)
        if not wrong:
            return variant
        if best_missing is None or len(wrong) < len(best_missing):
            best, best_missing = variant, wrong
    raise CheckpointError(f"{path} matches no AMT variant (closest {best}: "
                          f"{describe_mismatch(best_missing)})")
