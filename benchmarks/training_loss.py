"""The training loss of a run's weights against its initial weights, on fixed samples.

A run's logged per-step losses swing with the samples of each small batch; this scores the
initial weights (the trainer's seed) and a checkpoint on the same fixed, unaugmented samples
of the config's validation set, with the config's losses.

    python benchmarks/training_loss.py -c cfgs/AMT-S_synthetic.yaml -p work_dir/AMT-S_synthetic/latest.pth
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    import torch


def mean_loss(model: torch.nn.Module, dataset, losses, batch: int = 4) -> float:
    import torch
    from losses import compute_losses
    model.train()  # the training forward returns the flows the flow loss needs
    total, n = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(dataset), batch):
            samples = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
            b = torch.utils.data.default_collate([{k: v for k, v in s.items() if k != "name"}
                                                  for s in samples])
            out = model(b["img0"], b["img1"], b["embt"])
            loss, _ = compute_losses(losses, {**b, **out})
            total += float(loss) * len(samples)
            n += len(samples)
    return total / n


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", required=True)
    p.add_argument("-p", "--checkpoint", required=True)
    args = p.parse_args(argv)
    # after parsing, so that --help answers at once
    from losses import build_losses
    from networks import build_model
    from trainers.data import build_dataset
    from trainers.rng import seed_everything
    from utils.checkpoint import CheckpointError, load_state_dict
    from utils.config import ConfigError, load_config
    try:
        cfg = load_config(args.config)
        data = build_dataset(cfg["data"]["val"], "val")
        losses = build_losses(cfg["losses"])
        seed_everything(int(cfg["seed"]))
        model = build_model(cfg["network"])
        before = mean_loss(model, data, losses)
        model.load_state_dict(load_state_dict(args.checkpoint))
        after = mean_loss(model, data, losses)
    except (ConfigError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(data)} fixed samples of data.val: loss {before:.4f} with the initial weights, "
          f"{after:.4f} with {args.checkpoint} ({after / before:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
