"""YAML configs: load, apply dotted command-line overrides, and read them back.

The published field layout (``network: {name, params}``, ``data``, ``losses`` list, top-level
``lr``/``epochs``/...) is the layout of this project's configs too.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Dict, Iterable

import yaml


class ConfigError(ValueError):
    """A config file that is missing, unreadable or malformed."""


def load_config(path: str, overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """Read a YAML config and apply ``key.sub=value`` overrides (values parsed as YAML)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"config {path} must be a mapping at top level")
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """Return a copy of ``cfg`` with each ``a.b.c=value`` set (intermediate dicts created)."""
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
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
            node = nxt
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return out


def save_config(cfg: Dict[str, Any], path: str) -> None:
    """Write a config as YAML atomically."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    os.replace(tmp, path)
