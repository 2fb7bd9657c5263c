"""Where the network runs: PyTorch, or the ONNX graph (utils/onnx_export.py) in ONNX Runtime
or OpenVINO, behind the same Interpolator (padding, recursive halving, batching).

    network = load_network("onnxruntime", model)          # model: utils.inference.load_model
    Interpolator(model, network=network).interpolate(img0, img1, 0.5)

An ONNX backend exports the loaded torch model once and keeps the file in a cache folder
($AMT_ONNX_CACHE, else $XDG_CACHE_HOME/amt-vfi/onnx, else ~/.cache/amt-vfi/onnx), named by
a hash of the weights, the exporter's versions and the network's code: the next run with
the same weights loads it at once. The ONNX backends run float32 on the CPU, at network
scale 1, on RGB frames.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch

from utils.atomic import OutputError, describe_os_error
from utils.images import InputError
from utils.names import BACKEND_NAMES
from utils.onnx_export import DEFAULT_OPSET, INPUT_NAMES, OUTPUT_NAME, ExportError, export_model

BACKENDS = BACKEND_NAMES
# backend -> (module to import, the pip extra that installs it with the exporter)
PACKAGES = {"onnxruntime": ("onnxruntime", "onnxruntime"), "openvino": ("openvino", "openvino")}

Run = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # img0, img1, embt -> imgt


class BackendError(InputError):
    """A backend that is unknown, not installed or asked for what it cannot do (one line)."""


def check_backend(backend: str, dtype: str = "fp32", device: str = "cpu",
                  compile: bool = False) -> None:
    """BackendError (one line, naming the flags) for a backend that is unknown or cannot run
    with these settings; `device` 'auto' is what a command line resolves later."""
    if backend not in BACKENDS:
        raise BackendError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch":
        return
    if dtype != "fp32":
        raise BackendError(f"--backend {backend} runs float32 only; drop --dtype {dtype}")
    if str(device).split(":")[0] not in ("cpu", "auto"):
        raise BackendError(f"--backend {backend} runs on the CPU; use --device cpu")
    if compile:
        raise BackendError(f"--compile is for --backend torch, not {backend}")


def require(backend: str) -> Any:
    """The backend's runtime module, or BackendError naming the pip extra."""
    module, extra = PACKAGES[backend]
    try:
        return __import__(module)
    except ImportError:
        raise BackendError(f"--backend {backend} needs the {module} package: "
                           f"pip install 'amt-vfi[{extra}]'") from None


def cache_dir() -> str:
    """The folder exported graphs are kept in."""
    if os.environ.get("AMT_ONNX_CACHE"):
        return os.environ["AMT_ONNX_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "amt-vfi", "onnx")


def weights_key(model: torch.nn.Module, opset: int = DEFAULT_OPSET) -> str:
    """A hash of what the exported file depends on: the weights, the time flag, the opset,
    the exporter's versions and the network's code (networks/*.py)."""
    import onnxscript

    import networks
    h = hashlib.sha256()
    h.update(f"{model.variant}|{model.arbitrary_time}|{opset}|torch {torch.__version__}|"
             f"onnxscript {onnxscript.__version__}".encode())
    root = os.path.dirname(os.path.abspath(networks.__file__))
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(f for f in files if f.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(f.read())
    for name, value in model.state_dict().items():
        h.update(name.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cached_onnx(model: torch.nn.Module, folder: Optional[str] = None,
                opset: int = DEFAULT_OPSET) -> str:
    """The path of `model` exported as a dynamic-shape ONNX graph, exported now (once, with
    a note on stderr) when the cache does not hold it yet."""
    try:
        key = weights_key(model, opset)
    except ImportError:
        raise BackendError("exporting to ONNX needs the onnxscript package: "
                           "pip install 'amt-vfi[onnx]'") from None
    folder = folder or cache_dir()
    path = os.path.join(folder, f"{model.variant}-{key[:16]}.onnx")
    if not os.path.isfile(path):
        print(f"note: exporting {model.variant} to ONNX once (minutes on a small CPU); kept "
              f"as {path}", file=sys.stderr)
        try:
            os.makedirs(folder, exist_ok=True)
            export_model(model, path, opset=opset)
        except ExportError as e:
            raise BackendError(str(e)) from None
        except OSError as e:
            raise OutputError(e.errno, f"cannot write {path}: {describe_os_error(e)}") from None
    return path


def onnxruntime_run(path: str, threads: Optional[int] = None) -> Run:
    """img0, img1, embt (numpy float32) -> imgt_pred, in an ONNX Runtime CPU session."""
    ort = require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.log_severity_level = 3  # errors only: its warnings are about the graph's internals
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def run(img0: np.ndarray, img1: np.ndarray, embt: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], dict(zip(INPUT_NAMES, (img0, img1, embt))))[0]
    return run


def openvino_run(path: str, threads: Optional[int] = None) -> Run:
    """The same in OpenVINO on the CPU, in float32: its CPU plugin would otherwise run bf16
    on CPUs that have it, which moves the output by ~1e-2."""
    ov = require("openvino")
    compiled = ov.Core().compile_model(path, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32",
        "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads())})
    request = compiled.create_infer_request()
    output = compiled.output(OUTPUT_NAME)

    def run(img0: np.ndarray, img1: np.ndarray, embt: np.ndarray) -> np.ndarray:
        result = request.infer(dict(zip(INPUT_NAMES, (img0, img1, embt))))
        return np.array(result[output])  # a copy: the request reuses its output buffer
    return run


@dataclass
class _Pair:
    """What GraphNetwork.encode keeps of a pair: the frames (the graph encodes them itself)."""
    img0: torch.Tensor
    img1: torch.Tensor


class GraphNetwork:
    """An ONNX graph behind the calls utils.inference.Interpolator makes of a network:
    encode(img0, img1, scale_factor, plan=None) and decode(feats, embt) -> {'imgt_pred'}.
    The graph runs the whole network on each decode, so a pair decoded at several times is
    encoded again for each (the torch backend encodes it once)."""

    channels = 3  # RGB only: the graph's contract

    def __init__(self, run: Run, backend: str) -> None:
        self.run, self.backend = run, backend

    def encode(self, img0: torch.Tensor, img1: torch.Tensor, scale_factor: float = 1.0,
               plan: Any = None) -> _Pair:
        """img0, img1: (B, 3, H, W), H and W multiples of 16 (the Interpolator pads them)."""
        if scale_factor != 1:
            raise BackendError(f"--backend {self.backend} runs the network at scale 1 only, "
                               f"not {scale_factor:g}; use --backend torch for a scale")
        if img0.shape[1] != self.channels:
            raise BackendError(f"--backend {self.backend} takes RGB frames only (the ONNX "
                               f"graph has 3 channels, these have {img0.shape[1]}); use "
                               "--backend torch for frames with alpha")
        return _Pair(img0, img1)

    def decode(self, feats: _Pair, embt: torch.Tensor) -> Dict[str, torch.Tensor]:
        """embt: (B, 1, 1, 1) -> {'imgt_pred': (B, 3, H, W)} on the frames' device."""
        x0 = feats.img0
        arrays = [np.ascontiguousarray(x.detach().float().cpu().numpy())
                  for x in (x0, feats.img1, embt.reshape(-1, 1, 1, 1).expand(x0.shape[0], 1, 1, 1))]
        return {"imgt_pred": torch.from_numpy(self.run(*arrays)).to(x0.device)}

    def __call__(self, img0: torch.Tensor, img1: torch.Tensor, embt: torch.Tensor) -> torch.Tensor:
        """The graph as a function: (B, 3, H, W) x2, (B, 1, 1, 1) -> (B, 3, H, W)."""
        return self.decode(self.encode(img0, img1), embt)["imgt_pred"]


def load_network(backend: str, model: torch.nn.Module, threads: Optional[int] = None,
                 onnx_path: Optional[str] = None) -> Any:
    """What Interpolator(model, network=...) runs for `backend`: the model itself for
    'torch', else a GraphNetwork over `onnx_path` (default: the model exported to the cache).
    threads: the runtime's CPU threads (default torch's)."""
    check_backend(backend)
    if backend == "torch":
        return model
    require(backend)  # before the export: a missing runtime is said at once
    path = onnx_path or cached_onnx(model)
    make = onnxruntime_run if backend == "onnxruntime" else openvino_run
    return GraphNetwork(make(path, threads), backend)
