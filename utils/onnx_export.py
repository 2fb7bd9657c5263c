"""Export an AMT network to ONNX: one graph `img0, img1, embt -> imgt_pred` that any ONNX
runtime can run without this codebase (see docs/onnx.md).

    amt-export -p pretrained/amt-s-open.pth -o amt-s.onnx
    amt-export --variant AMT-L -o amt-l-random.onnx --height 256 --width 448

The graph takes img0, img1 (N, 3, H, W) float32 in [0, 1] with H and W multiples of 16 and
at least 128, and embt (N, 1, 1, 1), the target time; it gives imgt_pred (N, 3, H, W). By
default N, H and W are dynamic; --height/--width fix H and W. The checkpoint's metadata
(variant, arbitrary_time, the padding rule) is in the model's metadata_props.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any, Dict, List, Optional, Tuple

from utils.cli_options import add_arbitrary_time
from utils.names import MIN_NET_SIZE, NET_MULTIPLE

# This module's command line imports torch only after parsing (`--help` stays fast), so
# nothing here imports it at module level.
INPUT_NAMES = ("img0", "img1", "embt")
OUTPUT_NAME = "imgt_pred"
MIN_OPSET, DEFAULT_OPSET = 16, 18  # GridSample needs opset 16
PIP_EXTRA = "pip install 'amt-vfi[onnx]'"
# The frames torch.export traces with: N = 2 and H != W keep the batch and the two sides
# apart as symbols (a size of 1, or two equal sides, would be taken as a constant).
SAMPLE_SHAPE = (2, 3, 128, 160)


class ExportError(ValueError):
    """Bad export options or a missing exporter package (one line for the user)."""


def check_size(height: Optional[int], width: Optional[int]) -> Optional[Tuple[int, int]]:
    """(H, W) for a fixed-size graph, None for a dynamic one; ExportError unless both or
    neither are given, multiples of 16 and at least 128."""
    if height is None and width is None:
        return None
    if height is None or width is None:
        raise ExportError("give both --height and --width for a fixed size, or neither for "
                          "a dynamic one")
    for name, v in (("--height", height), ("--width", width)):
        if v < MIN_NET_SIZE or v % NET_MULTIPLE:
            raise ExportError(f"{name} must be a multiple of {NET_MULTIPLE} and at least "
                              f"{MIN_NET_SIZE}, got {v}")
    return int(height), int(width)


def check_opset(opset: int) -> int:
    if opset < MIN_OPSET:
        raise ExportError(f"--opset must be at least {MIN_OPSET} (GridSample), got {opset}")
    return int(opset)


def metadata(model: Any, size: Optional[Tuple[int, int]]) -> Dict[str, str]:
    """What a runtime needs to know to call the graph, as ONNX metadata_props (strings)."""
    from utils.checkpoint import sha256_file
    checkpoint = getattr(model, "checkpoint", None)
    meta = {
        "variant": model.variant,
        "arbitrary_time": "true" if model.arbitrary_time else "false",
        "inputs": "img0, img1: (N, 3, H, W) float32 RGB in [0, 1]; embt: (N, 1, 1, 1) float32 "
                  "target time in (0, 1)",
        "outputs": "imgt_pred: (N, 3, H, W) float32 RGB in [0, 1]",
        "pad_multiple": str(NET_MULTIPLE),
        "min_size": str(MIN_NET_SIZE),
        "padding": f"pad H and W up to multiples of {NET_MULTIPLE} (and at least {MIN_NET_SIZE}) "
                   "with edge replication, crop the output back",
        "time": ("any t in (0, 1)" if model.arbitrary_time else
                 "trained for t = 0.5 only: reach other times by recursive halving"),
        "size": f"{size[0]}x{size[1]}" if size else "dynamic",
        "checkpoint": os.path.basename(checkpoint) if checkpoint else "random weights",
    }
    if checkpoint:
        meta["checkpoint_sha256"] = sha256_file(checkpoint)
    return meta


def _require_exporter() -> None:
    """ExportError naming the pip extra when the exporter's packages are missing."""
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            raise ExportError(f"exporting to ONNX needs the {module} package: "
                              f"{PIP_EXTRA}") from None


def export_model(model: Any, path: str, size: Optional[Tuple[int, int]] = None,
                 opset: int = DEFAULT_OPSET) -> Dict[str, str]:
    """Write `model` (a loaded AMT) to `path` as ONNX, atomically; returns the metadata.

    size: (H, W) for a fixed-size graph, None for dynamic N, H and W. The graph is
    networks.graph.AMTGraph: one plan for every size (the whole-frame decoder tail, the
    correlation lookup as bilinear sampling of the features)."""
    _require_exporter()
    size = check_size(*size) if size else None
    opset = check_opset(opset)
    import onnx
    import torch

    from networks.graph import AMTGraph
    from utils.atomic import write_bytes
    from utils.inference import eval_mode

    graph = AMTGraph(model)
    shape = (SAMPLE_SHAPE[:2] + size) if size else SAMPLE_SHAPE
    gen = torch.Generator().manual_seed(0)
    args = (torch.rand(shape, generator=gen), torch.rand(shape, generator=gen),
            torch.full((shape[0], 1, 1, 1), 0.5))
    n = torch.export.Dim("N", min=1)
    dims: Dict[int, Any] = {0: n}
    if size is None:
        dims.update({2: NET_MULTIPLE * torch.export.Dim("H16", min=MIN_NET_SIZE // NET_MULTIPLE),
                     3: NET_MULTIPLE * torch.export.Dim("W16", min=MIN_NET_SIZE // NET_MULTIPLE)})
    dynamic = {"img0": dims, "img1": dims, "embt": {0: n}}
    # encode builds the dense volume (which AMTGraph leaves unused): 'auto' would compare
    # its size with a budget, a condition on the symbolic H and W. optimize=False:
    # onnxscript's rewriter takes many minutes on this graph (thousands of nodes) for
    # nothing a runtime does not do itself when it loads the file.
    corr_mode, model.corr_mode = model.corr_mode, "dense"
    try:
        with torch.no_grad(), eval_mode(model), warnings.catch_warnings():
            # img0 and img1 share their symbols: the exporter says so once per axis
            warnings.filterwarnings("ignore", "# The axis name", UserWarning)
            graph.eval()  # the wrapper too (the model's own modes come back on exit)
            program = torch.onnx.export(graph, args, input_names=list(INPUT_NAMES),
                                        output_names=[OUTPUT_NAME], dynamic_shapes=dynamic,
                                        opset_version=opset, dynamo=True, verbose=False,
                                        optimize=False)
    finally:
        model.corr_mode = corr_mode
    proto = program.model_proto
    meta = metadata(model, size)
    onnx.helper.set_model_props(proto, meta)
    write_bytes(path, proto.SerializeToString())
    return meta


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="amt-export", description=__doc__.splitlines()[0],
                                epilog="See docs/onnx.md for the graph's contract.")
    p.add_argument("-p", "--checkpoint", help="weights (.pth; default: the bundled checkpoint)")
    p.add_argument("-c", "--config", help="config whose network section names the variant")
    p.add_argument("--variant", choices=("AMT-S", "AMT-L", "AMT-G"),
                   help="the architecture (random weights without -p)")
    add_arbitrary_time(p)
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--height", type=int, help="a fixed input height (default: dynamic)")
    p.add_argument("--width", type=int, help="a fixed input width (default: dynamic)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, at least {MIN_OPSET} (default {DEFAULT_OPSET})")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    a = parse_args(argv)
    try:
        size = check_size(a.height, a.width)
        check_opset(a.opset)
        if not a.output.lower().endswith(".onnx"):
            raise ExportError(f"-o must name a .onnx file, got {a.output}")
        _require_exporter()
        from utils.checkpoint import CheckpointError
        from utils.config import ConfigError
        from utils.inference import load_model
        try:
            model = load_model(a.checkpoint, a.config, a.variant, arbitrary_time=a.arbitrary_time)
        except (CheckpointError, ConfigError) as e:
            raise ExportError(str(e)) from None
        meta = export_model(model, a.output, size, a.opset)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # OutputError among them: its str() is one line
        print(f"error: {e.strerror or e}", file=sys.stderr)
        return 2
    mib = os.path.getsize(a.output) / 2 ** 20
    print(f"wrote {a.output} ({mib:.1f} MiB, {meta['variant']} from {meta['checkpoint']}, "
          f"size {meta['size']}, opset {a.opset})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
