"""AMT networks: `build_model('AMT-S')` or `build_model(cfg['network'])`."""
from __future__ import annotations

from typing import Any, Mapping, Union

from networks.amt import AMT, VARIANTS, canonical_variant

__all__ = ["AMT", "VARIANTS", "build_model", "canonical_variant", "variant_of_config"]


def variant_of_config(section: Mapping[str, Any]) -> str:
    """The variant a config's `network` section names: `name: AMT-S` (or the published
    `networks.AMT-S.Model`), or `name: AMT` with `params.variant`."""
    if not isinstance(section, Mapping) or "name" not in section:
        raise ValueError(f"a network config section needs a 'name' (got {section!r})")
    params = section.get("params") or {}
    name = str(section["name"])
    if name.rsplit(".", 1)[-1] in ("AMT",) and "variant" in params:
        return canonical_variant(params["variant"])
    return canonical_variant(name)


def build_model(spec: Union[str, Mapping[str, Any]], **overrides: Any) -> AMT:
    """Build AMT from a variant name or a config's `network` section (randomly initialised)."""
    if isinstance(spec, str):
        return AMT(canonical_variant(spec), **overrides)
    params = {k: v for k, v in (spec.get("params") or {}).items() if k != "variant"}
    params.update(overrides)
    return AMT(variant_of_config(spec), **params)
