"""Name -> class registries and the one builder that turns config sections into objects.

Config sections look like ``{name: ..., params: {...}}`` (the published layout). A name may be
a bare class name (``CharbonnierLoss``), a dotted path as the published configs write it
(``losses.loss.CharbonnierLoss``, ``networks.AMT-S.Model``), or a registered alias.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional


class Registry:
    """Maps names (and aliases) to constructors for one kind of object."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: Dict[str, Callable[..., Any]] = {}

    def register(self, *aliases: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register under the object's own name and every alias given."""
        def wrap(obj: Callable[..., Any]) -> Callable[..., Any]:
            for key in (obj.__name__, *aliases):
                self.add(key, obj)
                self.add(key.rsplit(".", 1)[-1], obj)
            return obj
        return wrap

    def add(self, key: str, obj: Callable[..., Any]) -> None:
        if key in self._entries and self._entries[key] is not obj:
            raise KeyError(f"{self.kind} name {key!r} is registered twice")
        self._entries[key] = obj

    def get(self, name: str) -> Callable[..., Any]:
        """Resolve a full name, then its last dotted component."""
        for key in (name, name.rsplit(".", 1)[-1]):
            if key in self._entries:
                return self._entries[key]
        known = ", ".join(sorted(self._entries))
        raise KeyError(f"unknown {self.kind} {name!r}; known: {known}")

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except KeyError:
            return False
        return True


def build_from_cfg(section: Mapping[str, Any], registry: Registry, **extra: Any) -> Any:
    """Build ``registry[section['name']](**section['params'], **extra)``.

    The section is never mutated; ``extra`` fills arguments that the config does not carry.
    """
    if not isinstance(section, Mapping) or "name" not in section:
        raise ValueError(f"a {registry.kind} config section needs a 'name' (got {section!r})")
    params: Optional[Mapping[str, Any]] = section.get("params") or {}
    return registry.get(str(section["name"]))(**dict(params), **extra)
