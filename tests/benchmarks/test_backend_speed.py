import json
import math
import sys

import pytest
import torch

from benchmarks.backend_speed import main
from networks import build_model
from utils.backend_speed import REFERENCE, backend_rows, format_table, measure_rows, torch_rows


def test_runs_tiny_and_reports_every_row(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert main(["--variant", "AMT-S", "--sizes", "64x96,72x80", "--repeats", "1",
                 "--threads", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["threads"] == 1 and [s["size"] for s in report["sections"]] == [[64, 96], [72, 80]]
    for section in report["sections"]:
        rows = {r["name"]: r for r in section["results"]}
        assert list(rows) == [REFERENCE, "default fp32", "default bf16"]
        assert rows[REFERENCE]["ratio"] == 1.0 and rows[REFERENCE]["max_abs_diff"] == 0.0
        assert rows["default fp32"]["max_abs_diff"] <= 2e-5  # the same numbers, faster
        assert all(r["median_s"] > 0 and r["peak_mem_gb"] > 0 for r in rows.values())
    table = capsys.readouterr().out
    assert "| 64x96 | default bf16 |" in table and "| 72x80 | dense fp32 | " in table


def test_rows_are_name_callable_pairs_measured_in_turn():
    calls = []

    def row(name, value):
        def fn(x0, x1):
            calls.append(name)
            return torch.full_like(x0, value)
        return name, fn

    x = torch.zeros(1, 3, 4, 4)
    results = measure_rows([row(REFERENCE, 0.5), row("other runtime", 0.51)], x, x, repeats=3,
                           warmup=1)
    assert calls == [REFERENCE, "other runtime"] + [REFERENCE, "other runtime"] * 3
    other = results[1]
    assert other["name"] == "other runtime" and abs(other["max_abs_diff"] - 0.01) < 1e-6
    assert abs(other["psnr_db"] - 40.0) < 1e-3 and other["ratio"] > 0
    assert math.isinf(results[0]["psnr_db"])
    assert "| 4x4 | other runtime |" in format_table([{"size": [4, 4], "results": results}])


def test_torch_rows_leave_the_model_alone():
    model = build_model("AMT-S").eval()
    names = [name for name, _ in torch_rows(model, torch.device("cpu"), bf16=False)]
    assert names == [REFERENCE, "default fp32"]
    assert model.corr_mode == "auto"


def test_the_reference_row_runs_as_published_and_the_default_row_does_not(monkeypatch):
    import networks.amt
    plans = []
    real = networks.amt.build_corr

    def spy(*args, **kwargs):
        plans.append(args[-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(networks.amt, "build_corr", spy)
    model = build_model("AMT-S").eval()
    x = torch.rand(1, 3, 64, 96)
    for name, run in torch_rows(model, torch.device("cpu"), bf16=False):
        plans.clear()
        run(x, x)
        published = name == REFERENCE
        assert [p.channels_last for p in plans] == [not published]
        assert [p.pooled_features for p in plans] == [not published]
    assert "execution_plan" not in model.__dict__  # the rows' copies were changed, not it


def test_bad_sizes_are_one_line(capsys):
    assert main(["--variant", "AMT-S", "--sizes", "big"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1


@pytest.mark.slow
def test_the_onnx_rows_run_behind_the_same_interpolator(onnx_export, monkeypatch):
    model, _ = onnx_export("AMT-S")
    monkeypatch.setenv("AMT_ONNX_CACHE", onnx_export.folder)  # the session's export, reused
    rows = torch_rows(model, torch.device("cpu"), bf16=False)[:1]
    rows += backend_rows(model, ["onnxruntime", "openvino"])
    g = torch.Generator().manual_seed(3)
    x0, x1 = torch.rand(1, 3, 120, 136, generator=g), torch.rand(1, 3, 120, 136, generator=g)
    results = {r["name"]: r for r in measure_rows(rows, x0, x1, repeats=1, warmup=1)}
    assert list(results) == [REFERENCE, "onnxruntime fp32", "openvino fp32"]
    assert all(results[name]["max_abs_diff"] <= 1e-4 for name in results)


def test_auto_runs_the_onnx_rows_on_the_cpu_when_a_gpu_is_there(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    assert main(["--variant", "AMT-S", "--sizes", "64x64", "--device", "auto",
                 "--backends", "onnxruntime"]) == 2
    # past the device check: the next refusal is the missing runtime
    assert "needs the onnxruntime package" in capsys.readouterr().err
