"""What every benchmark script shares: options, the model or baseline, running, reporting.

A script defines a `Benchmark` (its samples and protocol as `Run`s) and calls `.main`. The
options every script has travel as one `BenchmarkOptions`, read once from the command line;
a script's own arguments (its root, split, crop, ...) go to its `runs`.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from utils.cli_options import add_arbitrary_time, add_backend, add_device
from utils.names import DEFAULT_DEVICE, DIS_PRESET_NAMES, DTYPE_NAMES, METRIC_VARIANTS

if TYPE_CHECKING:
    from utils.evaluation.core import Protocol
    from utils.evaluation.predictors import Method

# The parsers here are light so that --help answers at once; torch, OpenCV, the data sets and
# the evaluation core are imported by the functions that run a benchmark.
DEFAULT_REPORT_DIR = os.path.join("out", "benchmarks")
TIME_MODES = {"auto": None, "direct": False, "recursive": True}  # -> Interpolator(recursive=)
OUT_OF_MEMORY_HINT = "try --scale-factor 0.5, --dtype fp16 or a smaller batch (--max-batch 1)"


@dataclass(frozen=True)
class BenchmarkOptions:
    """The options of add_common_arguments, read once: what is scored, how it runs, protocol
    overrides, data and reports (their --help says what each does)."""
    config: Optional[str] = None
    checkpoint: Optional[str] = None
    variant: Optional[str] = None
    arbitrary_time: Optional[bool] = None  # None: the checkpoint or config says (load_model)
    baseline: Tuple[str, ...] = ()  # the model-free baselines to score
    dis_preset: str = "medium"
    time_mode: str = "auto"
    max_batch: int = 8
    device: str = DEFAULT_DEVICE
    dtype: str = "fp32"
    backend: str = "torch"
    tf32: bool = False
    compile: bool = False
    metric: str = "float"
    scale_factor: Optional[float] = None
    pad_divisor: Optional[int] = None
    tta: bool = False
    keep_still: bool = False
    limit: Optional[int] = None
    allow_missing: bool = False
    report_dir: str = DEFAULT_REPORT_DIR
    csv: bool = False
    worst: int = 0
    threads: Optional[int] = None
    no_progress: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "BenchmarkOptions":
        """From a parser that add_common_arguments filled (--baseline: one or a list)."""
        values = {f.name: getattr(args, f.name) for f in fields(cls)}
        baseline = values["baseline"]
        values["baseline"] = tuple([baseline] if isinstance(baseline, str) else baseline or ())
        return cls(**values)

    @property
    def names_model(self) -> bool:
        return bool(self.config or self.checkpoint or self.variant)


Job = Tuple["Benchmark", argparse.Namespace]  # a benchmark and its own arguments (root, ...)


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
        options = BenchmarkOptions.from_args(args)
        if options.baseline and options.names_model:
            from utils.evaluation.core import EvaluationError
            return report_error(EvaluationError("--baseline scores a baseline instead of a "
                                                "model: drop -c/-p/--variant or --baseline"))
        return score(options, lambda: [(self, args)], options.baseline,
                     with_model=not options.baseline)


def score(options: BenchmarkOptions, jobs: Callable[[], Sequence[Job]],
          baselines: Sequence[str], with_model: bool, summary: bool = False) -> int:
    """What every benchmark command does: set up, build the methods, score every job (their
    reports written as it goes; with `summary` also one table for all), print the table.
    An error is one line on stderr and exit code 2."""
    import torch
    from datasets.common import DatasetError
    from utils.checkpoint import CheckpointError
    from utils.config import ConfigError
    from utils.devices import DeviceError
    from utils.evaluation.core import EvaluationError
    from utils.evaluation.reports import markdown_table, write_summary
    from utils.images import ImageReadError
    from utils.inference import InputError
    from utils.metrics import MetricError
    errors = (EvaluationError, DatasetError, CheckpointError, ConfigError, ImageReadError,
              InputError, MetricError, DeviceError, OSError, torch.OutOfMemoryError)
    try:
        options = setup(options)
        methods = build_methods(options, baselines, with_model)
        records = run_benchmarks(jobs(), methods, options)
        if summary:
            write_summary(options.report_dir, records)
    except errors as e:
        return report_error(e)
    print(markdown_table(records), end="")
    return 0


def report_error(e: Exception, oom_hint: str = OUT_OF_MEMORY_HINT) -> int:
    """One line on stderr (torch's out-of-memory message alone runs to several), exit code 2."""
    lines = str(e).strip().splitlines()
    message = lines[0] if lines else type(e).__name__
    import torch
    from utils.inference import out_of_memory_message
    if isinstance(e, torch.OutOfMemoryError):
        message = out_of_memory_message(e, oom_hint)
    print(f"error: {message}", file=sys.stderr)
    return 2


def timing_outcome(run: Callable[[], Dict[str, Any]], table: Callable[[Dict[str, Any]], str],
                   json_path: Optional[str], oom_hint: str = OUT_OF_MEMORY_HINT) -> int:
    """A timing script's end: `run()`'s report as a table on stdout (and as JSON at
    `json_path`, written atomically), or one error line; the exit code."""
    import json
    import torch
    from utils.atomic import OutputError, write_text
    from utils.checkpoint import CheckpointError
    from utils.config import ConfigError
    from utils.inference import InputError
    try:  # devices, backends, sizes and unreadable frames are ValueErrors of one line
        report = run()
    except (InputError, CheckpointError, ConfigError, ValueError, torch.OutOfMemoryError) as e:
        return report_error(e, oom_hint)
    print(table(report))
    if json_path:
        try:
            write_text(json_path, json.dumps(report, indent=2))
        except OutputError as e:
            return report_error(e, oom_hint)
    return 0


def add_execution_arguments(g: Any) -> None:
    """--device, --dtype, --tf32, --compile: how the network runs (every benchmark script)."""
    add_device(g)
    g.add_argument("--dtype", default="fp32", choices=DTYPE_NAMES,
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
    add_arbitrary_time(g)
    if several_baselines:
        g.add_argument("--baseline", choices=["average", "dis"], action="append", default=[],
                       help="also score this model-free baseline (repeatable)")
    else:
        g.add_argument("--baseline", choices=["average", "dis"],
                       help="score a model-free baseline instead of a model")
    g.add_argument("--dis-preset", default="medium", choices=DIS_PRESET_NAMES)
    g.add_argument("--time-mode", default="auto", choices=list(TIME_MODES),
                   help="how a model reaches t != 0.5: auto (from the model's arbitrary_time), direct, or "
                        "recursive 2x")
    g.add_argument("--max-batch", type=int, default=8, help="frame pairs per network call")
    add_execution_arguments(g)
    add_backend(g)
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


def hw_size(text: str, flag: str) -> Tuple[int, int]:
    """'256x448' -> (256, 448): a frame size as the scripts' size options give it; ValueError
    (one line, naming `flag`) otherwise."""
    try:
        h, w = (int(v) for v in text.strip().lower().split("x"))
    except ValueError:
        raise ValueError(f"{flag} must look like 256x448, got {text!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{flag} must be positive, got {text!r}")
    return h, w


def setup(options: BenchmarkOptions) -> BenchmarkOptions:
    """The options checked, with the device resolved ('auto' -> cuda or cpu); DeviceError or
    EvaluationError (one line) for a bad one."""
    import cv2
    import torch
    from utils.devices import check_device
    from utils.evaluation.core import EvaluationError
    options = dataclasses.replace(options, device=check_device(options.device,
                                                                 backend=options.backend))
    if options.threads:
        torch.set_num_threads(options.threads)
        cv2.setNumThreads(options.threads)
    if options.limit is not None and options.limit < 1:
        raise EvaluationError(f"--limit must be at least 1, got {options.limit}")
    if options.worst < 0:
        raise EvaluationError(f"--worst must not be negative, got {options.worst}")
    return options


def build_methods(options: BenchmarkOptions, baselines: Sequence[str],
                  with_model: bool) -> List[Method]:
    """The baselines named, then the model of -c/-p/--variant (or the default checkpoint)."""
    from utils.evaluation.predictors import baseline_method, model_method
    from utils.inference import load_model
    from utils.runtimes import check_backend, load_network
    methods = [baseline_method(name, options.dis_preset) for name in baselines]
    if with_model:
        check_backend(options.backend, options.dtype, options.device, options.compile)
        model = load_model(options.checkpoint, options.config, options.variant,
                           device=options.device, arbitrary_time=options.arbitrary_time)
        network = load_network(options.backend, model, options.threads)
        methods.append(model_method(model, options.device, options.max_batch,
                                    TIME_MODES[options.time_mode], dtype=options.dtype,
                                    tf32=options.tf32, compile=options.compile,
                                    network=network, backend=options.backend))
    return methods


def _protocol(run: Run, options: BenchmarkOptions) -> Protocol:
    changes: Dict[str, Any] = {"metric": options.metric}
    if options.scale_factor is not None:
        changes["scale_factor"] = options.scale_factor
    if options.pad_divisor is not None:
        changes["pad_divisor"] = options.pad_divisor
    if options.tta:
        changes["tta"] = True
    if options.keep_still:
        changes["keep_still"] = True
    return dataclasses.replace(run.protocol, **changes)


def run_benchmarks(jobs: Sequence[Job], methods: Sequence[Method],
                   options: BenchmarkOptions) -> List[Dict[str, Any]]:
    """Every run of every (benchmark, its own arguments) for every method; reports written as
    we go."""
    from datasets.sources import check_complete
    from utils.evaluation.core import evaluate
    from utils.evaluation.reports import record, write_run
    records = []
    for bench, bench_args in jobs:
        for run in bench.runs(bench_args):
            check_complete(run.source, options.allow_missing, "pass --allow-missing to score the rest")
            notes = list(run.source.notes)
            if options.limit:
                run.source = run.source.head(options.limit)
                notes.append(f"limited to the first {options.limit} samples")
            protocol = _protocol(run, options)
            for method in methods:
                result = evaluate(method.predictor(protocol), run.source, protocol,
                                  device=options.device, worst=options.worst,
                                  progress=not options.no_progress,
                                  desc=f"{run.benchmark} | {method.label}")
                rec = record(run.benchmark, method.label, method.info, result,
                             root=os.path.abspath(run.source.root), protocol=protocol.describe(),
                             times=run.source.times, time_mode=method.time_mode(run.source.times),
                             missing=run.source.missing, notes=notes, device=str(options.device),
                             date=datetime.datetime.now(datetime.timezone.utc).isoformat(
                                 timespec="seconds"))
                write_run(options.report_dir, rec, result, csv_rows=options.csv)
                records.append(rec)
    return records
