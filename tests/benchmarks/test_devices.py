"""--device in the benchmark scripts: a device this machine lacks is one line and exit 2
before any data is read or report written; the default is chosen after parsing."""
import os

import pytest
import torch

from benchmarks import run_all, speed_parameters, training_speed, vimeo90k
from benchmarks.cli import BenchmarkOptions, setup


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "nonsense"])
@pytest.mark.parametrize("script", ["vimeo90k", "run_all", "speed_parameters", "training_speed"])
def test_a_device_this_machine_lacks_is_one_line(tmp_path, capsys, device, script):
    reports = tmp_path / "reports"
    argv = {"vimeo90k": ["-r", str(tmp_path / "no-data"), "--report-dir", str(reports)],
            "run_all": ["--data-root", str(tmp_path / "no-data"), "--report-dir", str(reports)],
            "speed_parameters": ["--json", str(reports / "speed.json")],
            "training_speed": ["-c", str(tmp_path / "no-such.yaml")]}[script]
    main = {"vimeo90k": vimeo90k.main, "run_all": run_all.main,
            "speed_parameters": speed_parameters.main, "training_speed": training_speed.main}[script]
    assert main([*argv, "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device") and err.count("\n") == 1, err
    assert not os.path.exists(reports)


def test_the_default_device_is_resolved_after_parsing():
    args = vimeo90k.BENCHMARK.parser().parse_args(["-r", "x"])
    options = BenchmarkOptions.from_args(args)
    assert options.device == "auto" and setup(options).device == "cpu"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_auto_is_the_cpu_for_an_onnx_backend_when_a_gpu_is_there(monkeypatch, backend):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert setup(BenchmarkOptions(backend=backend)).device == "cpu"
    assert setup(BenchmarkOptions()).device == "cuda"
