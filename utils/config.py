"""YAML configs: load, apply dotted command-line overrides, and read them back.

The published field layout (``network: {name, params}``, ``data``, ``losses`` list, top-level
``lr``/``epochs``/...) is the layout of this project's configs too.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

import yaml

from utils.atomic import OutputError, atomic_open


class ConfigError(ValueError):
    """A config file that is missing, unreadable or malformed."""


# Keys that moved, with where they live now: a config written before the move is refused
# with the new place instead of being read as if the key were absent.
MOVED_KEYS = {"arbitrary_time": "network.params.arbitrary_time"}


def moved_key(cfg: Mapping[str, Any]) -> Optional[str]:
    """Why `cfg` cannot be read as it is (a key at its old place), or None."""
    for key, where in MOVED_KEYS.items():
        if key in cfg:
            return (f"config key '{key}' moved to '{where}' (the network says what its "
                    "weights were trained for); set it there")
    return None


def load_config(path: str, overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """Read a YAML config and apply ``key.sub=value`` overrides (values parsed as YAML)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"config {path} is not valid YAML: {_yaml_reason(e)}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config {path} is not UTF-8 text (byte {e.start} is "
                          f"{e.object[e.start]:#04x}); save it as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"config {path} must be a mapping at top level")
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Return a copy of ``cfg`` with each ``a.b.c=value`` set (intermediate dicts created).

    A whole-number component indexes a list, so one entry of a list of sets can be changed
    from the command line: ``data.train.params.sets.2.repeat=4``.
    """
    out = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r} has an empty key component")
        node = out
        for p in parts[:-1]:
            node = _child(node, p, item)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:  # also python/... tags, which safe_load refuses to build
            raise ConfigError(f"override {item!r} is not valid YAML: {_yaml_reason(e)} "
                              "(quote a string value)") from None
        if isinstance(node, list):
            node[_index(node, parts[-1], item)] = value
        else:
            node[parts[-1]] = value
    return out


def _yaml_reason(e: yaml.YAMLError) -> str:
    """PyYAML's cause in one line, with the line and column where it has them."""
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    mark = getattr(e, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def _child(node: Union[Dict[str, Any], List[Any]], part: str, item: str) -> Any:
    """The section or list that `part` names inside `node` (a missing section is created)."""
    if isinstance(node, list):
        nxt = node[_index(node, part, item)]
    else:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
    if not isinstance(nxt, (dict, list)):
        raise ConfigError(f"override {item!r}: {part!r} is not a section")
    return nxt


def _index(node: List[Any], part: str, item: str) -> int:
    if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
        valid = f"0-{len(node) - 1}" if node else "none, it is empty"
        raise ConfigError(f"override {item!r}: {part!r} is not an index of that list "
                          f"(valid: {valid})")
    return int(part)


def save_config(cfg: Dict[str, Any], path: str) -> None:
    """Write a config as YAML atomically; a failure (full disk) is one ConfigError line."""
    try:
        with atomic_open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
    except OutputError as e:
        raise ConfigError(str(e)) from None
