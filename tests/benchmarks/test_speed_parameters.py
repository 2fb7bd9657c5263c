import json

import pytest

from benchmarks.speed_parameters import main


def test_reports_params_latency_and_memory(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert main(["--variant", "AMT-S", "--size", "64x96", "--corr-mode", "ondemand",
                 "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["params"] == 2990543
    row = report["results"][0]
    assert row["corr_mode"] == "ondemand" and row["median_s"] > 0 and row["peak_mem_gb"] > 0
    assert "| ondemand |" in capsys.readouterr().out


def test_bad_size_is_one_line(capsys):
    assert main(["--size", "big", "--corr-mode", "dense"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1


def test_scale_factor_is_measured_and_reported(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert main(["--size", "128x160", "--corr-mode", "auto", "--scale", "0.5",
                 "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scale"] == 0.5
    assert "128x160 (scale_factor 0.5)" in capsys.readouterr().out


def test_bad_scale_is_one_line(capsys):
    assert main(["--size", "64x96", "--corr-mode", "auto", "--scale", "0.3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "scale" in err and err.count("\n") == 1


def test_out_of_memory_is_one_line_with_what_to_try(capsys, monkeypatch):
    import torch
    from networks.amt import AMT

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB.\nstats")
    monkeypatch.setattr(AMT, "encode", out_of_memory)
    assert main(["--size", "64x96", "--corr-mode", "auto", "--repeats", "1", "--warmup", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory") and err.count("\n") == 1
    assert "--scale 0.5" in err and "--dtype fp16" in err


def test_report_states_dtype_tf32_and_compile(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert main(["--size", "64x96", "--corr-mode", "ondemand", "--dtype", "bf16", "--tf32",
                 "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert (report["dtype"], report["tf32"], report["compile"]) == ("bf16", True, False)
    assert "bf16, tf32, " in capsys.readouterr().out


def test_a_report_that_cannot_be_written_is_one_line(tmp_path, capsys):
    out = tmp_path / "no_such_folder" / "speed.json"
    assert main(["--variant", "AMT-S", "--size", "64x96", "--corr-mode", "ondemand",
                 "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and err.count("\n") == 1, err


@pytest.mark.parametrize("text, flag, words", [
    ("256x448", "--size", None), (" 72X80 ", "--sizes", None),
    ("big", "--size", "--size must look like 256x448, got 'big'"),
    ("0x16", "--crop", "--crop must be positive, got '0x16'")])
def test_one_hxw_parser(text, flag, words):
    from benchmarks.cli import hw_size
    if words is None:
        assert hw_size(text, flag) in ((256, 448), (72, 80))
    else:
        with pytest.raises(ValueError, match=words):
            hw_size(text, flag)
