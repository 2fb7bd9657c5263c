"""The options several command lines share (the demos, the benchmarks, the exporter), each
defined once. argparse only: the parsers use these before any heavy import, so `--help`
answers without torch."""
from __future__ import annotations

from typing import Any

from utils.names import BACKEND_NAMES, DEFAULT_DEVICE


def add_arbitrary_time(p: Any) -> None:
    """--arbitrary-time: the published files do not say whether they take any t.
    p: a parser or an argument group."""
    p.add_argument("--arbitrary-time", action="store_const", const=True, default=None,
                   help="the weights take any t (GoPro-trained); default: from the checkpoint "
                        "or -c, else t = 0.5 only")


def add_device(p: Any) -> None:
    """--device, resolved and checked once the run starts (utils.devices.check_device)."""
    p.add_argument("--device", default=DEFAULT_DEVICE,
                   help="auto (CUDA when available, else the CPU; the default; the CPU for "
                        "an ONNX --backend), cpu, cuda, cuda:N or mps")


def add_backend(p: Any) -> None:
    """--backend: where the network runs (utils.runtimes.BACKENDS; docs/onnx.md)."""
    p.add_argument("--backend", choices=BACKEND_NAMES, default="torch",
                   help="run the network in PyTorch (default) or exported to ONNX in ONNX "
                        "Runtime or OpenVINO (CPU, float32, scale 1; the export is cached; "
                        "see docs/onnx.md)")
