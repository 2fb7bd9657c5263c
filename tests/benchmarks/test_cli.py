"""Failure paths of the benchmark scripts, the reports, and run_all."""
import json
import os
import subprocess
import sys

import cv2
import pytest
import torch

from benchmarks import run_all, snu_film, video, vimeo90k, xiph
from utils.evaluation.reports import write_atomic
from tests.benchmarks import trees
from tests.benchmarks.helpers import records, run_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fails(capsys, main, argv, report_dir, match):
    """The script exits with 2 and one `error:` line naming the problem."""
    code = run_script(main, argv, report_dir)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and match in err, err
    return err


def test_missing_root(tmp_path, capsys):
    err = fails(capsys, vimeo90k.main, ["-r", tmp_path / "nope", "--baseline", "average"],
                tmp_path / "rep", str(tmp_path / "nope"))
    assert "Vimeo90K triplet layout" in err


def test_root_in_another_layout_names_the_missing_file(tmp_path, capsys):
    (tmp_path / "vimeo" / "sequences").mkdir(parents=True)
    err = fails(capsys, vimeo90k.main, ["-r", tmp_path / "vimeo", "--baseline", "average"],
                tmp_path / "rep", "data set file not found: ")
    assert "tri_testlist.txt" in err and "sequences/<5-digit>/<4-digit>/im1.png" in err


def test_partial_set_stops_unless_allowed(tmp_path, capsys):
    root = trees.vimeo(str(tmp_path / "vimeo"), listed=["00003/0001"])
    fails(capsys, vimeo90k.main, ["-r", root, "--baseline", "average"], tmp_path / "rep",
          "1 of 3 Vimeo90K samples are missing")
    assert not (tmp_path / "rep").exists()
    assert run_script(vimeo90k.main, ["-r", root, "--baseline", "average", "--allow-missing"],
                      tmp_path / "rep") == 0
    (rec,) = records(tmp_path / "rep")
    assert (rec["samples"], rec["missing"]) == (2, 1)
    assert "| 2 | 2 | 1 |" in (tmp_path / "rep" / "vimeo90k__frame-averaging.md").read_text()


def test_a_set_with_nothing_present(tmp_path, capsys):
    root = tmp_path / "vimeo"
    (root / "sequences").mkdir(parents=True)
    (root / "tri_testlist.txt").write_text("00001/0001\n")
    fails(capsys, vimeo90k.main, ["-r", root, "--baseline", "average", "--allow-missing"],
          tmp_path / "rep", "no complete samples")


def test_unreadable_image(tmp_path, capsys):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    with open(os.path.join(root, "sequences", "00002", "0003", "im2.png"), "wb") as f:
        f.write(b"not a png")
    fails(capsys, vimeo90k.main, ["-r", root, "--baseline", "average"], tmp_path / "rep",
          "cannot read image")


def test_malformed_snu_film_list(tmp_path, capsys):
    root = str(tmp_path / "snu")
    trees.snu_film(root)
    with open(os.path.join(root, "test-hard.txt"), "a") as f:
        f.write("only/two paths.png\n")
    fails(capsys, snu_film.main, ["-r", root, "--baseline", "average", "--split", "hard"],
          tmp_path / "rep", "test-hard.txt:3: expected three paths")


def test_missing_y4m(tmp_path, capsys):
    (tmp_path / "y4m").mkdir()
    fails(capsys, xiph.main, ["-r", tmp_path / "xiph", "--baseline", "average", "--sequences", "Tango",
                              "--from-y4m", tmp_path / "y4m"], tmp_path / "rep", "no Tango.y4m")


def test_frame_range_outside_the_video(tmp_path, capsys):
    folder = str(tmp_path / "frames")
    trees.write_frames(trees.numbered(folder, 4))
    fails(capsys, video.main, ["-r", folder, "--baseline", "average", "--start", "7"],
          tmp_path / "rep", "outside")


def test_baseline_and_model_together(tmp_path, capsys):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    fails(capsys, vimeo90k.main, ["-r", root, "--baseline", "dis", "-p", "x.pth"], tmp_path / "rep",
          "--baseline scores a baseline instead of a model")


def test_missing_checkpoint(tmp_path, capsys):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    fails(capsys, vimeo90k.main, ["-r", root, "-p", tmp_path / "none.pth"], tmp_path / "rep",
          "none.pth")


def test_worst_strips_and_no_temporary_files(tmp_path):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    assert run_script(vimeo90k.main, ["-r", root, "--baseline", "dis", "--worst", "2", "--csv"],
                      tmp_path / "rep") == 0
    rep = tmp_path / "rep"
    strips = sorted(os.listdir(rep / "vimeo90k__dis-flow-medium_worst"))
    assert len(strips) == 2 and strips[0].startswith("01_")
    assert cv2.imread(str(rep / "vimeo90k__dis-flow-medium_worst" / strips[0])).shape == (64, 320, 3)
    assert not [n for n in os.listdir(rep) if ".tmp" in n]
    rec = json.loads((rep / "vimeo90k__dis-flow-medium.json").read_text())
    assert set(rec) >= {"benchmark", "model", "protocol", "psnr", "ssim", "samples", "seconds",
                        "missing", "root", "time_mode", "date"}


def test_write_atomic_replaces_whole_files(tmp_path):
    path = tmp_path / "a" / "b.json"
    write_atomic(str(path), b"first")
    write_atomic(str(path), b"second")
    assert path.read_bytes() == b"second" and os.listdir(tmp_path / "a") == ["b.json"]


def test_run_all_prints_one_table(tmp_path, capsys):
    data = tmp_path / "data"
    trees.vimeo(str(data / "vimeo_triplet"))
    trees.ucf101(str(data / "ucf101"))
    code = run_all.main(["--data-root", str(data), "--baseline", "average", "--baseline", "dis",
                         "--sets", "vimeo90k,ucf101", "--report-dir", str(tmp_path / "rep"),
                         "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[:2] for r in rows] == [["| Vimeo90K", "frame averaging"],
                                                 ["| Vimeo90K", "DIS flow (medium)"],
                                                 ["| UCF101", "frame averaging"],
                                                 ["| UCF101", "DIS flow (medium)"]]
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert len(summary) == 4 and (tmp_path / "rep" / "summary.md").read_text() in out


def test_run_all_gives_its_options_to_every_set(tmp_path, capsys):
    data = tmp_path / "data"
    trees.vimeo(str(data / "vimeo_triplet"))
    trees.ucf101(str(data / "ucf101"))
    assert run_all.main(["--data-root", str(data), "--baseline", "average", "--limit", "1",
                         "--metric", "uint8", "--pad-divisor", "8", "--report-dir",
                         str(tmp_path / "rep"), "--no-progress"]) == 0
    recs = records(tmp_path / "rep")
    assert [r["benchmark"] for r in recs] == ["UCF101", "Vimeo90K", "Vimeo90K + TTA"]
    assert all(r["samples"] == 1 and r["protocol"]["metric"] == "uint8"
               and r["protocol"]["pad_divisor"] == 8 for r in recs)
    capsys.readouterr()


def test_run_all_finds_present_sets(tmp_path, capsys):
    data = tmp_path / "data"
    trees.middlebury(str(data / "middlebury"))
    assert run_all.main(["--data-root", str(data), "--baseline", "average", "--report-dir",
                         str(tmp_path / "rep"), "--no-progress"]) == 0
    assert [r["benchmark"] for r in records(tmp_path / "rep")] == ["Middlebury"]
    capsys.readouterr()


@pytest.mark.parametrize("argv, match", [
    (["--sets", "vimeo"], "unknown set(s) vimeo"),
    (["--root", "vimeo90k"], "NAME=PATH"),
    ([], "no test set found"),
])
def test_run_all_errors(tmp_path, capsys, argv, match):
    code = run_all.main(["--data-root", str(tmp_path), "--baseline", "average", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and match in err and "\n" not in err


def test_script_runs_as_published_and_errors_without_traceback(tmp_path):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    ok = subprocess.run([sys.executable, "benchmarks/vimeo90k.py", "-r", root, "--baseline", "average",
                         "--report-dir", str(tmp_path / "rep"), "--no-progress"],
                        cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0 and "| Vimeo90K | frame averaging |" in ok.stdout
    bad = subprocess.run([sys.executable, "benchmarks/vimeo90k.py", "-r", str(tmp_path / "nope"),
                          "--baseline", "average"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")


def test_unknown_device(tmp_path, capsys):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    fails(capsys, vimeo90k.main, ["-r", root, "--baseline", "average", "--device", "gpu0"],
          tmp_path / "rep", "unknown device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_asked_for_without_cuda(tmp_path, capsys):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    fails(capsys, vimeo90k.main, ["-r", root, "--baseline", "average", "--device", "cuda"],
          tmp_path / "rep", "CUDA is not available")


def test_unreadable_video(tmp_path, capsys):
    path = tmp_path / "clip.mp4"
    path.write_text("not a video")
    fails(capsys, video.main, ["-r", path, "--baseline", "average"], tmp_path / "rep",
          "cannot read video")


def test_limit_scores_the_first_samples_and_says_so(tmp_path):
    path = trees.write_y4m(str(tmp_path / "clip.y4m"), frames=8)
    assert run_script(video.main, ["-r", path, "--baseline", "average", "--limit", "2"],
                      tmp_path / "rep") == 0
    (rec,) = records(tmp_path / "rep")
    assert rec["samples"] == 2 and "limited to the first 2 samples" in rec["notes"]


def _out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 19.53 GiB. GPU 0 has a "
                                 "total capacity of 139.8 GiB of which 2.1 GiB is free.\n"
                                 "Of the allocated memory 120 GiB is allocated by PyTorch")


def test_out_of_memory_in_the_network_is_one_line_with_what_to_try(tmp_path, capsys, monkeypatch):
    from networks.amt import AMT
    monkeypatch.setattr(AMT, "decode", _out_of_memory)
    root = trees.vimeo(str(tmp_path / "vimeo"))
    err = fails(capsys, vimeo90k.main, ["-r", root, "--variant", "AMT-S"], tmp_path / "rep",
                "out of memory")
    assert "Tried to allocate 19.53 GiB" in err
    assert "--scale-factor 0.5" in err and "--dtype fp16" in err and "--max-batch 1" in err


def test_reports_state_dtype_tf32_and_compile(tmp_path):
    root = trees.vimeo(str(tmp_path / "vimeo"), ids=("00001/0001",))
    assert run_script(vimeo90k.main, ["-r", root, "--variant", "AMT-S", "--dtype", "bf16",
                                      "--tf32"], tmp_path / "rep") == 0
    (rec,) = records(tmp_path / "rep")
    assert (rec["dtype"], rec["tf32"], rec["compile"]) == ("bf16", True, False)
