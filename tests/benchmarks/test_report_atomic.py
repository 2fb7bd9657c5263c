"""Benchmark reports and speed tables are written through utils.atomic."""
import json
import os

import pytest

from utils.evaluation.reports import write_atomic
from utils import atomic


@pytest.fixture
def temporaries(monkeypatch):
    names = []
    real = atomic.temp_name
    monkeypatch.setattr(atomic, "temp_name", lambda t, d=False: names.append(str(t)) or real(t, d))
    return names


def test_report_files_go_through_the_atomic_writer(tmp_path, temporaries):
    path = tmp_path / "new" / "r.json"
    write_atomic(str(path), b"{}")
    assert temporaries == [str(path)] and path.read_bytes() == b"{}"
    assert os.listdir(path.parent) == ["r.json"]


def test_speed_table_json_goes_through_the_atomic_writer(tmp_path, temporaries, monkeypatch):
    from benchmarks import speed_parameters
    report = {"model": "AMT-S", "params": 1, "size": [8, 8], "scale": 1.0, "device": "cpu",
              "machine": "m", "dtype": "float32", "threads": 1,
              "results": [{"corr_mode": "dense", "median_s": 1.0, "min_s": 1.0, "peak_mem_gb": 0.0}]}
    monkeypatch.setattr(speed_parameters, "run", lambda args: report)
    monkeypatch.setattr(speed_parameters, "format_table", lambda r: "table")
    out = tmp_path / "speed.json"
    assert speed_parameters.main(["--json", str(out)]) == 0
    assert temporaries == [str(out)] and json.loads(out.read_text()) == report
    assert os.listdir(tmp_path) == ["speed.json"]
