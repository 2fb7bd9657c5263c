"""Train AMT: `python train.py -c cfgs/AMT-S.yaml [key.path=value ...] [--resume auto|PATH]`,
or the same under `torchrun --nproc_per_node N train.py ...` for N processes."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="YAML config (published layout)")
    p.add_argument("overrides", nargs="*", metavar="key.path=value",
                   help="config overrides, e.g. lr=1e-4 data.train_loader.batch_size=8")
    p.add_argument("--resume", metavar="auto|PATH",
                   help="continue a run: 'auto' = latest.pth of the run directory when present, "
                        "or a checkpoint path (overrides the config's resume_state)")
    return p.parse_intermixed_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    # heavy imports after argument parsing, so that --help is instant
    from datasets import DatasetError
    from losses import LossError
    from trainers import Stopped, TrainingError, run
    from utils.checkpoint import CheckpointError
    from utils.config import ConfigError, load_config
    from utils.evaluation.core import EvaluationError
    from utils.images import ImageReadError
    try:
        cfg = load_config(args.config, args.overrides)
        run(cfg, args.resume)
    except (ConfigError, TrainingError, LossError, CheckpointError, DatasetError,
            ImageReadError, EvaluationError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Stopped as e:
        print(e, file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:  # Ctrl-C during the set-up: only fit() turns it into a save
        print("error: interrupted; continue with --resume auto", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
