"""Every benchmark script end to end on a tiny tree in its real layout, scored by the
averaging baseline: a perfect score means the right frames were paired at the right t."""
import os

import cv2
import numpy as np

from benchmarks import (adobe240, gopro, middlebury, snu_film, ucf101, video, vimeo90k,
                        vimeo90k_tta, x4k, xiph)
from datasets import x4k as x4k_set, xiph as xiph_set
from tests.benchmarks import trees
from tests.benchmarks.helpers import csv_rows, score_baseline

PERFECT = 60  # dB; one frame off costs the averaging baseline 30+ dB on these clips


def test_vimeo90k(tmp_path):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    (rec,) = score_baseline(vimeo90k.main, root, tmp_path / "rep")
    assert (rec["benchmark"], rec["samples"], rec["frames"], rec["missing"]) == ("Vimeo90K", 2, 2, 0)
    assert rec["psnr"] > PERFECT and rec["ssim"] > 0.9999
    assert rec["protocol"] == {"pad_divisor": 16, "scale_factor": 1.0, "tta": False,
                               "keep_still": False, "metric": "float", "crop": None}
    rows = csv_rows(tmp_path / "rep", "vimeo90k")
    assert [(r["name"], float(r["t"])) for r in rows] == [("00001/0001", 0.5), ("00002/0003", 0.5)]


def test_vimeo90k_with_dis_baseline(tmp_path):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    (rec,) = score_baseline(vimeo90k.main, root, tmp_path / "rep", baseline="dis")
    assert rec["method"] == "DIS flow (medium)" and rec["model"].startswith("baseline: OpenCV DIS")
    assert rec["psnr"] > 40  # no motion in this clip: near-zero flow, near-perfect blend


def test_vimeo90k_tta(tmp_path):
    root = trees.vimeo(str(tmp_path / "vimeo"))
    (rec,) = score_baseline(vimeo90k_tta.main, root, tmp_path / "rep")
    assert rec["benchmark"] == "Vimeo90K + TTA" and rec["protocol"]["tta"] is True
    assert rec["samples"] == 2 and rec["psnr"] > PERFECT


def test_ucf101(tmp_path):
    root = trees.ucf101(str(tmp_path / "ucf"), ids=("1", "10"))
    (rec,) = score_baseline(ucf101.main, root, tmp_path / "rep")
    assert (rec["samples"], rec["missing"]) == (2, 0) and rec["psnr"] > PERFECT
    assert [r["name"] for r in csv_rows(tmp_path / "rep", "ucf101")] == ["1", "10"]


def test_snu_film_rewrites_list_paths_and_runs_all_splits(tmp_path):
    root = str(tmp_path / "snu")
    triples = trees.snu_film(root)
    recs = score_baseline(snu_film.main, root, tmp_path / "rep")
    assert [r["benchmark"] for r in recs] == [f"SNU-FILM {s}" for s in
                                              ("easy", "extreme", "hard", "medium")]
    for rec in recs:
        split = rec["benchmark"].split()[1]
        assert rec["samples"] == len(triples[split]) and rec["psnr"] > PERFECT
        assert (rec["protocol"]["pad_divisor"], rec["protocol"]["scale_factor"]) == (20, 0.8)
    names = [r["name"] for r in csv_rows(tmp_path / "rep", "snu-film-extreme")]
    assert names == ["GOPRO_test/GOPR0001/000004.png"]  # the middle path is the truth


def test_snu_film_one_split(tmp_path):
    root = str(tmp_path / "snu")
    trees.snu_film(root)
    recs = score_baseline(snu_film.main, root, tmp_path / "rep", "--split", "hard")
    assert [r["benchmark"] for r in recs] == ["SNU-FILM hard"]


def test_xiph_2k_resizes_and_4k_crops(tmp_path, monkeypatch):
    monkeypatch.setattr(xiph_set, "SIZE_2K", (48, 32))  # the 2048x1080 protocol, shrunk
    root = trees.xiph(str(tmp_path / "xiph"), frames=5, size=(64, 80))
    recs = score_baseline(xiph.main, root, tmp_path / "rep", "--sequences", "Tango", "--frames", "5",
                          "--worst", "1")
    assert [r["benchmark"] for r in recs] == ["Xiph-2K", "Xiph-4K"]
    assert all(r["samples"] == 2 and r["psnr"] > PERFECT for r in recs)
    assert recs[0]["protocol"]["crop"] is None and recs[1]["protocol"]["crop"] == [32, 48]
    assert all((r["protocol"]["pad_divisor"], r["protocol"]["scale_factor"]) == (32, 0.5) for r in recs)
    assert [r["name"] for r in csv_rows(tmp_path / "rep", "xiph-2k")] == ["Tango/002", "Tango/004"]
    first = next(iter(xiph_set.xiph_source(root, "2k", ["Tango"], 5)))
    original = cv2.cvtColor(cv2.imread(os.path.join(root, "Tango", "001.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(first.img0, cv2.resize(original, (48, 32), interpolation=cv2.INTER_AREA))
    first_4k = next(iter(xiph_set.xiph_source(root, "4k", ["Tango"], 5)))
    assert np.array_equal(first_4k.img0, original)  # cropped later, by the protocol


def test_xiph_converts_local_y4m_files(tmp_path, monkeypatch):
    monkeypatch.setattr(xiph_set, "SIZE_2K", (32, 24))
    src = tmp_path / "y4m"
    src.mkdir()
    trees.write_y4m(str(src / "Tango_64x48_60fps.y4m"))
    trees.write_y4m(str(src / "FoodMarket2_64x48.y4m"), frames=3)
    root = tmp_path / "xiph"
    recs = score_baseline(xiph.main, root, tmp_path / "rep", "--sequences", "Tango", "--frames", "5",
                          "--resolution", "2k", "--from-y4m", src)
    assert sorted(os.listdir(root / "Tango")) == [f"{i:03d}.png" for i in range(1, 6)]
    assert not (root / "FoodMarket2").exists()  # only the sequences asked for
    assert cv2.imread(str(root / "Tango" / "003.png")).shape == (48, 64, 3)
    assert recs[0]["samples"] == 2


def test_middlebury(tmp_path):
    root = trees.middlebury(str(tmp_path / "mb"))
    (rec,) = score_baseline(middlebury.main, root, tmp_path / "rep")
    assert rec["samples"] == 2 and rec["psnr"] > PERFECT
    assert [r["name"] for r in csv_rows(tmp_path / "rep", "middlebury")] == ["Beanbags", "Walking"]


def test_gopro_full_frame_windows_and_times(tmp_path):
    root = str(tmp_path / "gopro")
    trees.video_folders(os.path.join(root, "test"), ["GOPR0001", "GOPR0002"], frames=17)
    (rec,) = score_baseline(gopro.main, root, tmp_path / "rep", "--full-frame")
    assert rec["benchmark"] == "GoPro 8x (full frame)" and rec["protocol"]["crop"] is None
    assert (rec["samples"], rec["frames"]) == (4, 28) and rec["psnr"] > PERFECT
    assert rec["times"] == [k / 8 for k in range(1, 8)] and rec["time_mode"] == "direct"
    assert any("2 test videos found" in n for n in rec["notes"])
    rows = csv_rows(tmp_path / "rep", "gopro-8x-full-frame")
    assert rows[0]["name"] == "GOPR0001/000000-000008" and rows[-1]["name"] == "GOPR0002/000008-000016"
    assert [float(r["t"]) for r in rows[:7]] == [k / 8 for k in range(1, 8)]


def test_gopro_crops_the_centre_512(tmp_path):
    root = str(tmp_path / "gopro")
    trees.video_folders(os.path.join(root, "test"), ["GOPR0001"], frames=9, size=(520, 530))
    (rec,) = score_baseline(gopro.main, root, tmp_path / "rep", "--worst", "1")
    assert rec["protocol"]["crop"] == [512, 512] and rec["psnr"] > PERFECT
    (strip,) = os.listdir(tmp_path / "rep" / "gopro-8x-512-crop__frame-averaging_worst")
    img = cv2.imread(str(tmp_path / "rep" / "gopro-8x-512-crop__frame-averaging_worst" / strip))
    assert img.shape == (512, 5 * 512, 3)


def test_adobe240_takes_every_10th_sorted_video(tmp_path):
    root = trees.video_folders(str(tmp_path / "adobe"), ["clip_b", "clip_a", "clip_c"], frames=9)
    (rec,) = score_baseline(adobe240.main, root, tmp_path / "rep", "--full-frame")
    assert rec["samples"] == 1 and rec["psnr"] > PERFECT
    assert [r["name"] for r in csv_rows(tmp_path / "rep", "adobe240-8x-full-frame")][0] == \
        "clip_a/000000-000008"
    assert any("sorted" in n and "1 of 3" in n for n in rec["notes"])


def test_adobe240_every_2nd(tmp_path):
    root = trees.video_folders(str(tmp_path / "adobe"), ["clip_b", "clip_a", "clip_c"], frames=9)
    (rec,) = score_baseline(adobe240.main, root, tmp_path / "rep", "--full-frame", "--every", "2")
    names = {r["name"].split("/")[0] for r in csv_rows(tmp_path / "rep", "adobe240-8x-full-frame")}
    assert rec["samples"] == 2 and names == {"clip_a", "clip_c"}


def test_x4k_at_4k_and_2k(tmp_path, monkeypatch):
    monkeypatch.setattr(x4k_set, "SIZE_2K", (32, 32))
    root = trees.x4k(str(tmp_path / "x4k"))
    recs = score_baseline(x4k.main, root, tmp_path / "rep")
    assert [r["benchmark"] for r in recs] == ["X4K1000FPS-2K", "X4K1000FPS-4K"]
    for rec in recs:
        assert (rec["samples"], rec["frames"]) == (2, 14) and rec["psnr"] > PERFECT
        assert rec["times"] == [k / 32 for k in range(4, 32, 4)]
    assert recs[1]["protocol"]["scale_factor"] == 0.25 and recs[0]["protocol"]["scale_factor"] == 0.5
    rows = csv_rows(tmp_path / "rep", "x4k1000fps-4k")
    assert rows[0]["name"] == "Type1/TEST01_003_f0433"


def test_video_frame_folder_2x_with_a_frame_range(tmp_path):
    folder = str(tmp_path / "frames")
    trees.write_frames(trees.numbered(folder, 12, "frame{}.png"))  # natural order: 2 < 10
    (rec,) = score_baseline(video.main, folder, tmp_path / "rep", "--start", "2", "--end", "9")
    assert rec["benchmark"] == "frames [2..9] 2x"
    assert rec["samples"] == 6 and rec["psnr"] > PERFECT  # frames 3..8 scored
    rows = csv_rows(tmp_path / "rep", "frames-2-9-2x")
    assert rows[0]["name"] == "frame2-frame4" and rows[-1]["name"] == "frame7-frame9"


def test_video_frame_folder_8x(tmp_path):
    folder = str(tmp_path / "frames")
    trees.write_frames(trees.numbered(folder, 18))
    (rec,) = score_baseline(video.main, folder, tmp_path / "rep", "--factor", "8")
    assert (rec["samples"], rec["frames"]) == (2, 14) and rec["psnr"] > PERFECT


def test_video_file(tmp_path):
    path = str(tmp_path / "clip.y4m")
    trees.write_y4m(path, frames=12)
    (rec,) = score_baseline(video.main, path, tmp_path / "rep", "--end", "6")
    assert rec["samples"] == 5 and 10 < rec["psnr"] < 60  # a moving test pattern
    rows = csv_rows(tmp_path / "rep", "clip-y4m-0-6-2x")
    assert [r["name"] for r in rows] == [f"clip.y4m:{i:06d}-{i + 2:06d}" for i in range(5)]


def test_video_stride_2_scores_every_other_frame(tmp_path):
    folder = str(tmp_path / "frames")
    trees.write_frames(trees.numbered(folder, 8))
    (rec,) = score_baseline(video.main, folder, tmp_path / "rep", "--stride", "2")
    assert rec["benchmark"] == "frames 2x stride 2" and rec["samples"] == 3  # frames 1, 3, 5
    assert [r["name"] for r in csv_rows(tmp_path / "rep", "frames-2x-stride-2")] == \
        ["000000-000002", "000002-000004", "000004-000006"]
