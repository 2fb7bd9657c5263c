import json

from benchmarks.streaming_memory import main


def test_reports_peak_memory_per_clip_length(tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["--size", "160x96", "--frames", "3", "6", "--baseline", "average",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 frames -> peak RSS" in text and "ratio longest/shortest" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["frames"] for r in rows] == [3, 6] and all(r["peak_rss_gb"] > 0.01 for r in rows)


def test_a_failing_demo_is_reported(capsys):
    assert main(["--size", "160x96", "--frames", "3", "-p", "/nonexistent.pth"]) == 2
    assert "the demo failed" in capsys.readouterr().err
