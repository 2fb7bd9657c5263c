import os

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from datasets import DATASETS, DatasetError
from datasets.augment import Augment, downscale, hflip, reverse_time, transpose, vflip
from datasets.flow_io import FlowFileError, read_flo, write_flo
from datasets.video_folder import read_video
from utils.registry import build_from_cfg


def _png(path, value, size=(64, 64)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = np.full(size + (3,), value, np.uint8)
    img[0, 0] = (value + 1) % 256  # distinguishable, not flat
    cv2.imwrite(str(path), img)


@pytest.fixture
def vimeo(tmp_path):
    ids = ["00001/0001", "00001/0002"]
    for n, sid in enumerate(ids):
        for k in (1, 2, 3):
            _png(tmp_path / "sequences" / sid / f"im{k}.png", 10 * n + k, (128, 160))
        rng = np.random.default_rng(n)
        write_flo(str(tmp_path / "flow" / sid / "flow_t0.flo"), rng.normal(size=(128, 160, 2)))
        write_flo(str(tmp_path / "flow" / sid / "flow_t1.flo"), rng.normal(size=(128, 160, 2)))
    (tmp_path / "tri_trainlist.txt").write_text("\n".join(ids) + "\n\n")
    (tmp_path / "tri_testlist.txt").write_text(ids[1] + "\n")
    return tmp_path


def test_flo_round_trip_and_errors(tmp_path):
    flow = np.random.default_rng(0).normal(size=(5, 7, 2)).astype(np.float32)
    path = str(tmp_path / "a.flo")
    write_flo(path, flow)
    assert open(path, "rb").read(4) == b"PIEH"
    assert np.array_equal(read_flo(path), flow)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-8])
    with pytest.raises(FlowFileError, match="truncated"):
        read_flo(path)
    open(path, "wb").write(b"XXXX" + data[4:])
    with pytest.raises(FlowFileError, match="magic"):
        read_flo(path)
    with pytest.raises(FlowFileError, match="cannot read"):
        read_flo(str(tmp_path / "none.flo"))


def test_vimeo_train_and_test(vimeo):
    train = build_from_cfg({"name": "datasets.vimeo_datasets.Vimeo90K_Train_Dataset",
                            "params": {"dataset_dir": str(vimeo), "crop_size": [128, 144]}}, DATASETS)
    assert len(train) == 2
    s = train[0]
    assert s["img0"].shape == (3, 128, 144) and s["flow"].shape == (4, 128, 144)
    assert float(s["embt"]) == 0.5
    test = DATASETS.get("Vimeo90K_Test_Dataset")(str(vimeo))
    assert len(test) == 1 and test[0]["name"] == "00001/0002"
    s = test[0]
    assert s["imgt"].shape == (3, 128, 160)
    assert abs(s["img0"][0, 10, 10].item() - 11 / 255) < 1e-6  # im1 of sample 2
    assert abs(s["imgt"][0, 10, 10].item() - 12 / 255) < 1e-6


def test_vimeo_layout_errors(tmp_path, vimeo):
    with pytest.raises(DatasetError, match="not found"):
        DATASETS.get("Vimeo90KTest")(str(tmp_path / "nope"))
    os.remove(vimeo / "tri_testlist.txt")
    with pytest.raises(DatasetError, match="tri_testlist.txt"):
        DATASETS.get("Vimeo90KTest")(str(vimeo))
    (vimeo / "tri_testlist.txt").write_text("00009/0009\n")
    with pytest.raises(DatasetError, match="im1.png"):
        DATASETS.get("Vimeo90KTest")(str(vimeo))


def _video_folders(root, videos, frames, size=(64, 64)):
    for v in videos:
        for f in range(frames):
            _png(root / v / f"{f:05d}.png", f, size)


def test_gopro_windows_and_times(tmp_path):
    _video_folders(tmp_path / "test", ["GOPR0384", "GOPR0385"], 17)  # 2 windows each
    test = DATASETS.get("GoPro_Test_Dataset")(str(tmp_path), crop_size=None)  # smaller than 512
    assert len(test) == 4 * 7
    s = test[9]  # window 1 (frames 8..16), k = 3
    assert float(s["embt"]) == pytest.approx(3 / 8)
    assert s["img0"][0, 5, 5].item() == pytest.approx(8 / 255)
    assert s["imgt"][0, 5, 5].item() == pytest.approx(11 / 255)
    assert s["img1"][0, 5, 5].item() == pytest.approx(16 / 255)
    _video_folders(tmp_path / "train", ["a"], 9, (128, 128))
    train = DATASETS.get("GoProTrain")(str(tmp_path), crop_size=[128, 128])
    for i in range(8):
        torch.manual_seed(i)
        s = train[0]
        assert float(s["embt"]) in [k / 8 for k in range(1, 8)]


def test_time_reversal_only_when_swapped():
    frames = [np.full((4, 4, 3), v, np.float32) for v in (0.0, 0.3, 1.0)]
    swapped, t, _ = reverse_time(frames, 0.25, None)
    assert t == 0.75 and swapped[0][0, 0, 0] == 1.0 and swapped[2][0, 0, 0] == 0.0


def test_adobe_takes_every_tenth_sorted_video(tmp_path):
    names = [f"clip{i}" for i in range(12)]
    _video_folders(tmp_path, names, 9)
    ds = DATASETS.get("Adobe240Test")(str(tmp_path), crop_size=None)  # frames smaller than 512
    assert sorted({s.split("/")[0] for s in (ds[i]["name"] for i in range(len(ds)))}) == \
        ["clip0", "clip10"]  # natural order: clip0, clip1, ..., clip9, clip10, clip11


def test_video_folder_from_a_video_and_a_frame_folder(tmp_path):
    frames = [np.full((128, 160, 3), 20 * i, np.uint8) for i in range(6)]
    iio.imwrite(tmp_path / "clip.mp4", np.stack(frames), fps=10, codec="libx264", plugin="FFMPEG")
    _video_folders(tmp_path, ["shots"], 5, (128, 144))
    ds = DATASETS.get("VideoFolderTrain")(str(tmp_path), crop_size=[128, 128], frame_range=[0, 4])
    assert len(ds) == 2 + 2  # 4 frames of each -> 2 triplets each
    s = ds[0]
    assert s["img0"].shape == (3, 128, 128) and float(s["embt"]) == 0.5
    with pytest.raises(DatasetError, match="windows"):
        DATASETS.get("VideoFolderTrain")(str(tmp_path), frame_range=[0, 2])


def test_video_folder_frame_step_spaces_the_triplet_out(tmp_path):
    _video_folders(tmp_path, ["shots"], 7)  # frame f is filled with the value f
    ds = DATASETS.get("VideoFolderTrain")(str(tmp_path), augment=False, frame_step=2)
    assert len(ds) == 3  # windows starting at frames 0, 1, 2 of 0..6
    s = ds[2]
    values = [round(s[k][0, 5, 5].item() * 255) for k in ("img0", "imgt", "img1")]
    assert values == [2, 4, 6] and float(s["embt"]) == 0.5 and s["name"] == "shots/4"
    with pytest.raises(DatasetError, match="no 9-frame windows of every 2 frames"):
        DATASETS.get("VideoFolderTrain")(str(tmp_path), window=9, frame_step=2)  # needs 17
    for bad in (0, 1.5, "2", True):
        with pytest.raises(DatasetError, match="frame_step must be"):
            DATASETS.get("VideoFolderTrain")(str(tmp_path), frame_step=bad)


def test_video_folder_names_a_file_that_is_not_a_video(tmp_path):
    (tmp_path / "notes.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(DatasetError, match="cannot decode video .*notes.mp4"):
        DATASETS.get("VideoFolderTrain")(str(tmp_path))


def test_read_video_keeps_only_the_asked_frames_as_writable_copies(tmp_path):
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(5)]
    iio.imwrite(tmp_path / "clip.mp4", np.stack(frames), fps=10, codec="libx264", plugin="FFMPEG",
                output_params=["-crf", "0"])
    got = read_video(str(tmp_path / "clip.mp4"), [1, 3])
    assert [float(np.median(f)) for f in got] == pytest.approx([40, 80], abs=2)  # yuv420 rounding
    assert all(f.flags.writeable for f in got)


def _warp(img, flow):
    _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    grid = torch.stack([(xs + flow[0]) / (w - 1) * 2 - 1, (ys + flow[1]) / (h - 1) * 2 - 1], -1)
    return F.grid_sample(img[None], grid[None], align_corners=True, padding_mode="border")[0]


def _warp_error(s):
    e0 = (_warp(s["img0"], s["flow"][:2]) - s["imgt"]).abs().mean(0).median()
    e1 = (_warp(s["img1"], s["flow"][2:]) - s["imgt"]).abs().mean(0).median()
    return max(e0.item(), e1.item()), (s["img0"] - s["imgt"]).abs().mean().item()


@pytest.mark.parametrize("op", [None, vflip, hflip, transpose, "reverse", "downscale"])
def test_synthetic_flows_warp_frames_onto_the_middle_one(op):
    ds = DATASETS.get("SyntheticMotion")(length=4, size=(96, 128), seed=3, augment=False)
    s = ds[1]
    if op is not None:
        frames = [s[k].permute(1, 2, 0).numpy() for k in ("img0", "imgt", "img1")]
        flow = s["flow"].permute(1, 2, 0).numpy()
        if op == "reverse":
            frames, _, flow = reverse_time(frames, 0.5, flow)
        elif op == "downscale":
            frames, flow = downscale(frames, flow, 0.6)
            assert flow.shape[:2] == frames[0].shape[:2] == (58, 77)
        else:
            frames, flow = op(frames, flow)
        s = {k: torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)
             for k, f in zip(("img0", "imgt", "img1", "flow"), frames + [flow])}
    warped, unwarped = _warp_error(s)
    assert warped < 0.02 < unwarped


def test_downscale_keeps_frames_at_least_as_large_as_the_crop():
    aug = Augment(crop=(160, 160), downscale_p=1.0, downscale_min=0.05)
    assert aug._scale((720, 1280), np.random.default_rng(0)) >= 160 / 720
    assert aug._scale((160, 300), np.random.default_rng(0)) == 1.0  # no room: left as it is
    frames = [np.zeros((720, 1280, 3), np.uint8)] * 3
    for seed in range(20):
        out, _, _ = aug(frames, 0.5, None, np.random.default_rng(seed))
        assert all(f.shape == (160, 160, 3) for f in out)
    # the smallest factor lands exactly on the crop size, not a pixel short
    assert downscale(frames, None, 160 / 720)[0][0].shape == (160, 285, 3)


def test_synthetic_is_deterministic_and_arbitrary_time(tmp_path):
    a = DATASETS.get("SyntheticMotion")(length=3, size=(64, 64), seed=5)
    b = DATASETS.get("SyntheticMotion")(length=3, size=(64, 64), seed=5)
    assert torch.equal(a[2]["imgt"], b[2]["imgt"])
    c = DATASETS.get("SyntheticMotion")(length=20, size=(64, 64), seed=5, arbitrary_time=True)
    times = {float(c[i]["embt"]) for i in range(20)}
    assert times <= {k / 8 for k in range(1, 8)} and len(times) > 2
    with pytest.raises(DatasetError, match="fewer than two"):
        DATASETS.get("SyntheticMotion")(photo_dir=str(tmp_path))


def test_synthetic_static_background_stays_exactly_still_behind_moving_objects():
    def identical(ds):  # per sample: share of pixels equal in all three frames
        return [float(((ds[i]["img0"] == ds[i]["img1"]) & (ds[i]["img0"] == ds[i]["imgt"]))
                      .all(0).float().mean()) for i in range(len(ds))]

    still = DATASETS.get("SyntheticMotion")(length=8, size=(64, 96), seed=2, static_background_p=1)
    assert min(identical(still)) > 0.4  # the background, where no object covers it
    assert all(float((still[i]["flow"].abs().amax(0) < 1e-3).float().mean()) > 0.4
               for i in range(8))  # (4, H, W): zero flow to both inputs there
    moving = DATASETS.get("SyntheticMotion")(length=8, size=(64, 96), seed=2)
    assert np.mean(identical(moving)) < 0.15
    unchanged = DATASETS.get("SyntheticMotion")(length=2, size=(64, 64), seed=5,
                                                static_background_p=0.0)
    assert torch.equal(unchanged[1]["imgt"], DATASETS.get("SyntheticMotion")(
        length=2, size=(64, 64), seed=5)[1]["imgt"])  # seeded sets (validation) unchanged
    with pytest.raises(DatasetError, match=r"static_background_p must be in \[0, 1\], got 2"):
        DATASETS.get("SyntheticMotion")(static_background_p=2)


def _moving_clip(path, n=5, shift=3):
    """A textured picture sliding right by `shift` pixels per frame."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (96, 160, 3), dtype=np.uint8), (7, 7), 0)
    frames = [np.roll(base, shift * i, axis=1)[:, 16:144] for i in range(n)]
    iio.imwrite(path, np.stack(frames), fps=10, codec="libx264", plugin="FFMPEG",
                output_params=["-crf", "0"])


def test_video_folder_dis_pseudo_flow_points_at_the_neighbours(tmp_path):
    _moving_clip(tmp_path / "slide.mp4")
    ds = DATASETS.get("VideoFolderTrain")(str(tmp_path), augment=False, flow="dis")
    s = ds[0]
    assert s["flow"].shape == (4, 96, 128)
    inner = s["flow"][:, 24:-24, 24:-24]
    # the middle frame's content sits 3 px further right than in frame 0, 3 px left of frame 1
    assert inner[0].median().item() == pytest.approx(-3, abs=0.5)
    assert inner[2].median().item() == pytest.approx(3, abs=0.5)
    assert inner[[1, 3]].abs().median().item() < 0.5
    with pytest.raises(DatasetError, match="flow must be"):
        DATASETS.get("VideoFolderTrain")(str(tmp_path), flow="raft")
    with pytest.raises(DatasetError, match="downscale_p must be in"):
        DATASETS.get("VideoFolderTrain")(str(tmp_path), downscale_p=2)
    with pytest.raises(DatasetError, match="downscale_p must be in"):
        DATASETS.get("VideoFolderTrain")(str(tmp_path), downscale_p="half")


def test_mixed_concatenates_with_repeats_and_names_bad_parts(tmp_path):
    _moving_clip(tmp_path / "slide.mp4")
    # uncropped (the clip is smaller than the smallest training crop), as large as the clip
    video = {"name": "VideoFolderTrain", "params": {"dataset_dir": str(tmp_path), "flow": "dis",
                                                    "augment": False}}
    synthetic = {"name": "SyntheticMotion", "params": {"length": 4, "size": [96, 128]}}
    ds = build_from_cfg({"name": "Mixed", "params": {"sets": [synthetic, {**video, "repeat": 2}]}},
                        DATASETS)
    assert len(ds) == 4 + 2 * 3
    batch = torch.utils.data.default_collate([ds[0], ds[5]])  # the parts stack together
    assert batch["flow"].shape == (2, 4, 96, 128)
    assert ds[9]["name"].startswith("slide.mp4/")
    with pytest.raises(DatasetError, match=r"sets\[1\].*Nope"):
        build_from_cfg({"name": "Mixed", "params": {"sets": [synthetic, {"name": "Nope"}]}}, DATASETS)
    with pytest.raises(DatasetError, match="repeat"):
        build_from_cfg({"name": "Mixed", "params": {"sets": [{**synthetic, "repeat": 0}]}}, DATASETS)
    with pytest.raises(DatasetError, match=r"sets\[0\].repeat must be a whole number"):
        build_from_cfg({"name": "Mixed", "params": {"sets": [{**synthetic, "repeat": 2.5}]}}, DATASETS)
    with pytest.raises(DatasetError, match="non-empty"):
        build_from_cfg({"name": "Mixed", "params": {"sets": []}}, DATASETS)
    with pytest.raises(DatasetError, match="still_p"):
        build_from_cfg({"name": "Mixed", "params": {"sets": [{**synthetic, "still_p": 1.5}]}}, DATASETS)
    with pytest.raises(DatasetError, match=r"sets\[0\].still_p must be a number"):
        build_from_cfg({"name": "Mixed", "params": {"sets": [{**synthetic, "still_p": "abc"}]}}, DATASETS)


def test_mixed_still_p_makes_that_share_of_samples_still_with_zero_flow():
    synthetic = {"name": "SyntheticMotion", "params": {"length": 40, "size": [32, 32]}}
    torch.manual_seed(0)
    ds = build_from_cfg({"name": "Mixed", "params": {"sets": [{**synthetic, "still_p": 0.5}]}},
                        DATASETS)
    still = 0
    for i in range(len(ds)):
        s = ds[i]
        if not s["flow"].any():  # synthetic motion always moves, so these are the still ones
            still += 1
            assert torch.equal(s["img0"], s["imgt"]) and torch.equal(s["img1"], s["imgt"])
    assert 8 <= still <= 32  # ~Binomial(40, 0.5)
    always = build_from_cfg({"name": "Mixed", "params": {"sets": [{**synthetic, "still_p": 1}]}},
                            DATASETS)
    sample = always[3]
    assert torch.equal(sample["img0"], sample["imgt"]) and not sample["flow"].any()
