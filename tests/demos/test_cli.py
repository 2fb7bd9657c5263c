"""The demos' command lines: options refused in one line before any input is read or output
made, and the device chosen automatically."""
import os
import sys

import pytest
import torch

from demos.cli import EXIT_ERROR
from demos.demo_2x import main as demo_2x
from demos.demo_8x import main as demo_8x


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps", "nonsense"])
@pytest.mark.parametrize("demo", ["2x", "8x"])
def test_a_device_this_machine_lacks_is_one_line_and_nothing_is_read(
        tmp_path, capsys, monkeypatch, no_gpu, device, demo):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    out = tmp_path / "out"
    missing = str(tmp_path / "no-such-input.png")  # reading it would be a different error
    if demo == "2x":
        code = demo_2x(["-i", missing, missing, "-o", str(out / "o.mp4"), "--device", device])
    else:
        code = demo_8x(["-x", missing, "-y", missing, "-o", str(out), "--device", device])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith("error: --device") and err.count("\n") == 1, err
    assert not os.path.exists(out)


def test_the_default_device_is_chosen_after_parsing(no_gpu):
    from demos.demo_2x import options, parse_args
    a = parse_args(["-i", "a.png", "b.png"])
    assert a.device == "auto" and options(a).device == "cpu"


@pytest.fixture
def a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_an_onnx_backend_runs_on_the_cpu_when_a_gpu_is_there(a_gpu, backend):
    from demos.demo_2x import options, parse_args
    assert options(parse_args(["-i", "a.png", "b.png", "--backend", backend])).device == "cpu"
    assert options(parse_args(["-i", "a.png", "b.png"])).device == "cuda"


@pytest.mark.parametrize("demo", ["2x", "8x"])
def test_an_onnx_backend_on_cuda_asked_for_is_one_line(tmp_path, capsys, a_gpu, demo):
    out = tmp_path / "out"
    missing = str(tmp_path / "no-such-input.png")
    flags = ["--device", "cuda", "--backend", "onnxruntime"]
    if demo == "2x":
        code = demo_2x(["-i", missing, missing, "-o", str(out / "o.mp4"), *flags])
    else:
        code = demo_8x(["-x", missing, "-y", missing, "-o", str(out), *flags])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err == "error: --backend onnxruntime runs on the CPU; use --device cpu\n"
    assert not os.path.exists(out)


def test_the_8x_demo_runs_an_onnx_backend_on_the_cpu(tmp_path, capsys, monkeypatch, a_gpu):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    from tests.demos.test_backend import _clip
    a, b = _clip(str(tmp_path / "in"), n=2)
    assert demo_8x(["-x", a, "-y", b, "-o", str(tmp_path / "out"),
                    "--backend", "onnxruntime"]) == EXIT_ERROR
    # past the device check: the next refusal is the missing runtime
    assert "needs the onnxruntime package" in capsys.readouterr().err
