"""What every benchmark script shares: options, the model or baseline, running, reporting.

A script defines a `Benchmark` (its samples and protocol as `Run`s) and calls `.main`.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import cv2
import torch

from utils.evaluation.core import EvaluationError, Protocol, evaluate
from utils.evaluation.predictors import DIS_PRESETS, DTYPES, Method, baseline_method, model_method
from utils.evaluation.reports import markdown_table, record, write_run
from datasets.sources import check_complete
from utils.checkpoint import CheckpointError
from utils.config import ConfigError
from utils.images import ImageReadError
from utils.inference import InputError, load_model, out_of_memory_message
from utils.metrics import METRIC_VARIANTS, MetricError

DEFAULT_REPORT_DIR = os.path.join("out", "benchmarks")
ERRORS = (EvaluationError, CheckpointError, ConfigError, ImageReadError, InputError, MetricError,
          OSError, torch.OutOfMemoryError)
TIME_MODES = {"auto": None, "direct": False, "recursive": True}  # -> Interpolator(recursive=)
OUT_OF_MEMORY_HINT = "try --scale-factor 0.5, --dtype fp16 or a smaller batch (--max-batch 1)"


@dataclass
class Run:
    """One scored table row: a set (or one split of it) under one protocol."""
    benchmark: str
    source: Any  # sources.FileSource | sources.VideoSource
    protocol: Protocol


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass
class Benchmark:
    key: str  # script name, e.g. 'vimeo90k'
    description: str  # the script's docstring
    default_root: Optional[str]  # None: -r is required
    runs: Callable[[argparse.Namespace], List[Run]]
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments

    def parser(self) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog=f"benchmarks/{self.key}.py", description=self.description,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        if self.default_root:
            p.add_argument("-r", "--root", default=self.default_root,
                           help=f"the set's root folder (default {self.default_root})")
        else:
            p.add_argument("-r", "--root", required=True, help="the video file or frame folder")
        self.add_arguments(p)
        add_common_arguments(p)
        return p

    def main(self, argv: Optional[Sequence[str]] = None) -> int:
        args = self.parser().parse_args(argv)
        try:
            setup(args)
            if args.baseline and names_model(args):
                raise EvaluationError("--baseline scores a baseline instead of a model: "
                                     "drop -c/-p/--variant or --baseline")
            methods = build_methods(args, [args.baseline] if args.baseline else [],
                                    with_model=not args.baseline)
            records = run_benchmarks([(self, args)], methods, args)
        except ERRORS as e:
            return report_error(e)
        print(markdown_table(records), end="")
        return 0


def report_error(e: Exception) -> int:
    """One line on stderr (torch's out-of-memory message alone runs to several), exit code 2."""
    lines = str(e).strip().splitlines()
    message = lines[0] if lines else type(e).__name__
    if isinstance(e, torch.OutOfMemoryError):
        message = out_of_memory_message(e, OUT_OF_MEMORY_HINT)
    print(f"error: {message}", file=sys.stderr)
    return 2


def add_execution_arguments(g: Any) -> None:
    """--device, --dtype, --tf32, --compile: how the network runs (every benchmark script)."""
    g.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    g.add_argument("--dtype", default="fp32", choices=list(DTYPES),
                   help="fp16/bf16: autocast (fp32, the default, gives the published numbers)")
    g.add_argument("--tf32", action="store_true",
                   help="allow TF32 on CUDA (off by default: exact float32 as published)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the network's encode and decode (first call is slow)")


def add_common_arguments(p: argparse.ArgumentParser, several_baselines: bool = False) -> None:
    g = p.add_argument_group("what is scored")
    g.add_argument("-c", "--config", help="config whose network section builds the model")
    g.add_argument("-p", "--checkpoint", help="model weights (.pth)")
    g.add_argument("--variant", help="AMT-S | AMT-L | AMT-G (random weights without -p)")
    if several_baselines:
        g.add_argument("--baseline", choices=["average", "dis"], action="append", default=[],
                       help="also score this model-free baseline (repeatable)")
    else:
        g.add_argument("--baseline", choices=["average", "dis"],
                       help="score a model-free baseline instead of a model")
    g.add_argument("--dis-preset", default="medium", choices=list(DIS_PRESETS))
    g.add_argument("--time-mode", default="auto", choices=list(TIME_MODES),
                   help="how a model reaches t != 0.5: auto (from the checkpoint), direct, or "
                        "recursive 2x")
    g.add_argument("--max-batch", type=int, default=8, help="frame pairs per network call")
    add_execution_arguments(g)
    g = p.add_argument_group("protocol overrides")
    g.add_argument("--metric", default="float", choices=METRIC_VARIANTS,
                   help="float: the published protocol; uint8: score the 8-bit-rounded prediction")
    g.add_argument("--scale-factor", type=float, help="override the set's scale factor")
    g.add_argument("--pad-divisor", type=int, help="override the set's padding divisor")
    g.add_argument("--tta", action="store_true", help="vertical-flip test-time augmentation")
    g.add_argument("--keep-still", action="store_true",
                   help="copy the pixels that are identical in both inputs")
    g.add_argument("--limit", type=int, help="score only the first N samples")
    g = p.add_argument_group("data and reports")
    g.add_argument("--allow-missing", action="store_true",
                   help="score a partially present set (the report gives the missing count)")
    g.add_argument("--report-dir", default=DEFAULT_REPORT_DIR,
                   help=f"where reports go (default {DEFAULT_REPORT_DIR})")
    g.add_argument("--csv", action="store_true", help="also write per-frame scores as CSV")
    g.add_argument("--worst", type=int, default=0, metavar="N",
                   help="save the N worst frames as image strips")
    g.add_argument("--threads", type=int, help="CPU threads for torch and OpenCV")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def setup(args: argparse.Namespace) -> None:
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise EvaluationError(f"unknown device {args.device!r} (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvaluationError(f"--device {args.device} asked for, but CUDA is not available here")
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    if args.limit is not None and args.limit < 1:
        raise EvaluationError(f"--limit must be at least 1, got {args.limit}")
    if args.worst < 0:
        raise EvaluationError(f"--worst must not be negative, got {args.worst}")


def names_model(args: argparse.Namespace) -> bool:
    return bool(args.config or args.checkpoint or args.variant)


def build_methods(args: argparse.Namespace, baselines: Sequence[str], with_model: bool) -> List[Method]:
    """The baselines named, then the model of -c/-p/--variant (or the default checkpoint)."""
    methods = [baseline_method(name, args.dis_preset) for name in baselines]
    if with_model:
        model = load_model(args.checkpoint, args.config, args.variant, device=args.device)
        methods.append(model_method(model, args.device, args.max_batch, TIME_MODES[args.time_mode],
                                    dtype=args.dtype, tf32=args.tf32, compile=args.compile))
    return methods


def _protocol(run: Run, args: argparse.Namespace) -> Protocol:
    changes: Dict[str, Any] = {"metric": args.metric}
    if args.scale_factor is not None:
        changes["scale_factor"] = args.scale_factor
    if args.pad_divisor is not None:
        changes["pad_divisor"] = args.pad_divisor
    if args.tta:
        changes["tta"] = True
    if args.keep_still:
        changes["keep_still"] = True
    return dataclasses.replace(run.protocol, **changes)


def run_benchmarks(jobs: Sequence[tuple], methods: Sequence[Method],
                   args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Every run of every (benchmark, its args) for every method; reports written as we go."""
    records = []
    for bench, bench_args in jobs:
        for run in bench.runs(bench_args):
            check_complete(run.source, bench_args.allow_missing)
            notes = list(run.source.notes)
            if bench_args.limit:
                run.source = run.source.head(bench_args.limit)
                notes.append(f"limited to the first {bench_args.limit} samples")
            protocol = _protocol(run, bench_args)
            for method in methods:
                result = evaluate(method.predictor(protocol), run.source, protocol, device=args.device,
                                  worst=args.worst, progress=not args.no_progress,
                                  desc=f"{run.benchmark} | {method.label}")
                rec = record(run.benchmark, method.label, method.info, result,
                             root=os.path.abspath(run.source.root), protocol=protocol.describe(),
                             times=run.source.times, time_mode=method.time_mode(run.source.times),
                             missing=run.source.missing, notes=notes, device=str(args.device),
                             date=datetime.datetime.now(datetime.timezone.utc).isoformat(
                                 timespec="seconds"))
                write_run(args.report_dir, rec, result, csv_rows=args.csv)
                records.append(rec)
    return records
