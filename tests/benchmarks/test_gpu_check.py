"""benchmarks/gpu_check.py: every section reports, failures are contained, bars are judged."""
import json
import subprocess
import sys

import pytest

from benchmarks import gpu_check


def test_markdown_lists_every_section_and_each_missed_bar():
    check = gpu_check.Check()
    check.bar("fps", 12.0, 60.0)
    check.bar("err", 1e-6, 2e-5, higher_is_better=False)
    assert [b["ok"] for b in check.bars] == [False, True]
    text = gpu_check.markdown({"speed": {"status": "missed bar", "rows": [{"fps": 12.0}],
                                         "bars": check.bars},
                               "ddp": {"status": "failed", "why": "RuntimeError: boom"}})
    assert "| speed | missed bar | fps 12.0 |" in text
    assert "| ddp | failed | RuntimeError: boom |" in text
    assert "| fps | 12 | ≥ 60 | NO |" in text


def test_a_failing_section_is_reported_and_the_others_still_run(monkeypatch, tmp_path):
    def boom(ctx):
        raise RuntimeError("no NCCL here\nsecond line")
    monkeypatch.setattr(gpu_check, "SECTIONS", [("boom", boom),
                                                ("environment", gpu_check.environment)])
    report = tmp_path / "r.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--json", str(report)]) == 1
    sections = json.loads(report.read_text())["sections"]
    assert sections["boom"].pop("seconds") >= 0
    assert sections["boom"] == {"status": "failed", "why": "RuntimeError: no NCCL here"}
    assert sections["environment"]["status"] == "ok"


def test_bad_arguments_get_one_line(capsys):
    assert gpu_check.main(["--device", "cpu", "--only", "nosuch"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_parity_and_collectives_hold_on_cpu(tmp_path):
    report = tmp_path / "r.json"
    rc = gpu_check.main(["--device", "cpu", "--quick", "--only", "parity", "collectives",
                         "--json", str(report)])
    sections = json.loads(report.read_text())["sections"]
    assert rc == 0, sections
    assert all(b["ok"] for b in sections["parity"]["bars"]) and len(sections["parity"]["bars"]) == 5


@pytest.mark.slow
def test_the_quick_cpu_run_reports_every_cpu_section(tmp_path):
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu", "--quick",
                           "--threads", "2", "--json", str(report)],
                          capture_output=True, text=True, timeout=600)
    sections = json.loads(report.read_text())["sections"]
    assert proc.returncode == 0, (proc.stderr[-2000:], sections)
    assert {n for n, e in sections.items() if e["status"] == "ok"} == \
        {n for n, _ in gpu_check.SECTIONS} - {"out_of_memory"}
    assert sections["out_of_memory"]["status"] == "skipped"
    assert "| demo | ok |" in proc.stdout
