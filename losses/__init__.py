"""Training losses, built from a config's `losses` list (the published layout):

    losses:
      - {name: losses.loss.CharbonnierLoss, nickname: l_rec,
         params: {loss_weight: 1.0, keys: [imgt_pred, imgt]}}
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch

from losses.loss import (LOSSES, CharbonnierLoss, LogMSELoss, LossError, MultipleFlowLoss,
                         TernaryLoss, WeightedLoss)
from utils.registry import build_from_cfg

__all__ = ["LOSSES", "CharbonnierLoss", "LogMSELoss", "LossError", "MultipleFlowLoss", "TernaryLoss",
           "WeightedLoss", "build_losses", "compute_losses"]

NamedLosses = List[Tuple[str, WeightedLoss]]


def build_losses(entries: Sequence[Mapping[str, Any]]) -> NamedLosses:
    """[(nickname, loss), ...] from the config's `losses` list, in order."""
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise LossError("the config's 'losses' must be a non-empty list of "
                        "{name, nickname, params} entries")
    out: NamedLosses = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise LossError(f"losses[{i}] needs a 'name' (got {entry!r})")
        nickname = str(entry.get("nickname") or f"loss{i}")
        if nickname in dict(out):
            raise LossError(f"losses[{i}]: nickname {nickname!r} is used twice")
        try:
            loss = build_from_cfg(entry, LOSSES)
        except KeyError as e:
            raise LossError(str(e.args[0])) from None
        except TypeError as e:
            raise LossError(f"losses[{i}] ({entry['name']}): bad params: {e}") from None
        out.append((nickname, loss))
    return out


def compute_losses(losses: NamedLosses, merged: Mapping[str, Any]
                   ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """The weighted total and each weighted term by nickname. `merged` holds the model's
    outputs and the batch; each loss reads its keys from it by position."""
    terms: Dict[str, torch.Tensor] = {}
    for nickname, loss in losses:
        missing = [k for k in loss.keys if k not in merged]
        if missing:
            raise LossError(f"loss {nickname!r} reads {missing} but only {sorted(merged)} are "
                            "available (a flow loss needs a data set with flows and a model in "
                            "training mode)")
        terms[nickname] = loss(*[merged[k] for k in loss.keys])
    total = torch.stack(list(terms.values())).sum()
    return total, terms
