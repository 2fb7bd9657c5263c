"""amt-export: the ONNX graph's contract, its numbers in ONNX Runtime and OpenVINO, the CLI."""
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from utils import onnx_export
from utils.inference import PROJECT_ROOT
from utils.runtimes import onnxruntime_run, openvino_run

RUNTIMES = {"onnxruntime": onnxruntime_run, "openvino": openvino_run}
# two frame sizes (and batch sizes) from one dynamic-shape file
SIZES = [(1, 128, 128), (2, 160, 224)]


def _frames(n, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    img0, img1 = torch.rand(n, 3, h, w, generator=g), torch.rand(n, 3, h, w, generator=g)
    # smooth content and a shift: flows that move, not noise
    img0 = torch.nn.functional.avg_pool2d(img0, 5, 1, 2)
    img1 = torch.roll(img0, (3, -2), (2, 3)) * 0.9 + 0.05 * img1
    embt = torch.linspace(0.3, 0.6, n).reshape(n, 1, 1, 1)
    return img0, img1, embt


def _dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["AMT-S", "AMT-L", "AMT-G"])
def test_the_graph_matches_pytorch_in_both_runtimes_at_two_sizes(onnx_export, variant):
    model, path = onnx_export(variant)
    for name, make in RUNTIMES.items():
        run = make(path)
        for seed, (n, h, w) in enumerate(SIZES):
            img0, img1, embt = _frames(n, h, w, seed)
            with torch.no_grad():
                ref = model(img0, img1, embt)["imgt_pred"].numpy()
            out = run(img0.numpy(), img1.numpy(), embt.numpy())
            assert out.shape == ref.shape == (n, 3, h, w)
            err = float(np.abs(out - ref).max())
            print(f"{variant} {name} {n}x3x{h}x{w}: max abs difference {err:.2e}")
            assert err <= 1e-4, (name, (n, h, w), err)


@pytest.mark.slow
def test_the_graph_contract_and_metadata(onnx_export):
    model, path = onnx_export("AMT-S")
    proto = onnx.load(path)
    inputs = [(i.name, i.type.tensor_type.elem_type) for i in proto.graph.input]
    assert inputs == [(name, onnx.TensorProto.FLOAT) for name in ("img0", "img1", "embt")]
    assert [o.name for o in proto.graph.output] == ["imgt_pred"]
    img0, img1, embt = (_dims(i) for i in proto.graph.input)
    out = _dims(proto.graph.output[0])
    # N, H and W are symbols, the same for both frames and the output
    assert img0 == img1 and img0[1] == out[1] == 3 and embt[1:] == [1, 1, 1]
    assert all(isinstance(d, str) for d in (img0[0], img0[2], img0[3]))
    assert embt[0] == img0[0] == out[0]
    assert img0[2] != img0[3]
    assert min(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) >= 16
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["variant"] == "AMT-S" and meta["arbitrary_time"] == "false"
    assert meta["pad_multiple"] == "16" and meta["min_size"] == "128"
    assert meta["size"] == "dynamic" and "padding" in meta


def test_a_checkpoint_says_its_variant_time_and_hash():
    class Model:
        variant, arbitrary_time, checkpoint = "AMT-L", True, os.path.join(PROJECT_ROOT, "setup.py")
    meta = onnx_export.metadata(Model(), (256, 448))
    assert meta["variant"] == "AMT-L" and meta["arbitrary_time"] == "true"
    assert meta["size"] == "256x448" and meta["checkpoint"] == "setup.py"
    assert len(meta["checkpoint_sha256"]) == 64
    assert all(isinstance(v, str) for v in meta.values())


def test_help_imports_no_torch():
    code = ("import sys\nfrom utils import onnx_export\n"
            "try:\n    onnx_export.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'onnx', 'onnxscript', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": PROJECT_ROOT}, check=True)
    assert "amt-export" in out.stdout and out.stdout.strip().endswith("[]")


@pytest.mark.parametrize("argv, words", [
    (["-o", "m.onnx", "--height", "256"], "both --height and --width"),
    (["-o", "m.onnx", "--height", "250", "--width", "256"], "multiple of 16"),
    (["-o", "m.onnx", "--height", "96", "--width", "256"], "at least 128"),
    (["-o", "m.onnx", "--opset", "15"], "at least 16"),
    (["-o", "m.txt"], ".onnx"),
    (["-o", "m.onnx", "-p", "missing.pth"], "missing.pth"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, words):
    argv = [a if not a.endswith((".onnx", ".txt")) else str(tmp_path / a) for a in argv]
    assert onnx_export.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_a_missing_exporter_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import onnxscript raises ImportError
    assert onnx_export.main(["--variant", "AMT-S", "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err == ("error: exporting to ONNX needs the onnxscript package: "
                   "pip install 'amt-vfi[onnx]'\n")


def test_the_console_command_is_declared():
    with open(os.path.join(PROJECT_ROOT, "setup.py")) as f:
        assert '"amt-export=utils.onnx_export:main"' in f.read()


@pytest.mark.slow
def test_the_command_writes_a_fixed_size_graph(tmp_path, capsys):
    path = str(tmp_path / "fixed.onnx")
    assert onnx_export.main(["--variant", "AMT-S", "-o", path, "--height", "128",
                             "--width", "160"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {path} (")
    assert sorted(os.listdir(tmp_path)) == ["fixed.onnx"]  # no temporary left beside it
    proto = onnx.load(path)
    img0 = _dims(proto.graph.input[0])
    assert isinstance(img0[0], str) and img0[1:] == [3, 128, 160]  # N stays dynamic
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["size"] == "128x160" and meta["checkpoint"] == "random weights"
    run = onnxruntime_run(path)
    img0, img1, embt = _frames(2, 128, 160, 0)
    assert run(img0.numpy(), img1.numpy(), embt.numpy()).shape == (2, 3, 128, 160)


def test_the_graphs_size_rule_is_the_interpolators():
    """One definition of the sides the network takes: the Interpolator pads to them and the
    exporter checks --height/--width against them."""
    from utils import inference, names
    from utils.onnx_export import ExportError, check_size
    assert inference.MIN_NET_SIZE == names.MIN_NET_SIZE
    assert check_size(names.MIN_NET_SIZE, names.MIN_NET_SIZE + names.NET_MULTIPLE)
    with pytest.raises(ExportError, match=f"multiple of {names.NET_MULTIPLE} and at least "
                                          f"{names.MIN_NET_SIZE}"):
        check_size(names.MIN_NET_SIZE - names.NET_MULTIPLE, names.MIN_NET_SIZE)
