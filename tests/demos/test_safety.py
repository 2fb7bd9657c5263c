"""What the interpolation tool does when something goes wrong: it never touches an input or an
existing output it did not finish, says in one line what happened and exits 0 (complete),
2 (error: nothing written) or 3 (partial: stopped early, the finished frames kept under a
name that says partial)."""
import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import demos.pipeline as pipeline
import utils.video_io as video_io
from demos.demo_2x import main as demo_2x
from demos.demo_8x import main as demo_8x
from demos.pipeline import DemoError, InterpolationOptions
from tests.demos.test_pipeline import Blend, _decode, _frames, _pngs, _video, run
from utils.images import read_rgb
from utils.inference import PROJECT_ROOT, Interpolator
from utils.video_io import VideoWriter, open_source, read_frames

EXIT_ERROR, EXIT_PARTIAL = 2, 3
AMT_S = os.path.join(PROJECT_ROOT, "cfgs", "AMT-S.yaml")  # random weights: no checkpoint needed


def _one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


def _existing(path, data=b"the user's good video") -> bytes:
    with open(path, "wb") as f:
        f.write(data)
    return data


class FailsAt(Blend):
    """Blends, then raises `error` on call number `at` (1-based)."""

    def __init__(self, at: int, error) -> None:
        self.at, self.error, self.calls = at, error, 0

    def interpolate(self, img0, img1, ts):
        self.calls += 1
        if self.calls == self.at:
            raise self.error() if isinstance(self.error, type) else self.error
        return super().interpolate(img0, img1, ts)


def _use(monkeypatch, ip) -> None:
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (ip, "blend"))


# 1. the output is the input ----------------------------------------------------------------

@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_the_output_is_the_input_is_refused_before_anything_starts(tmp_path, capsys, how):
    video = _video(tmp_path / "x.mp4", _frames(6), 10, audio=True)
    before = open(video, "rb").read()
    out = str(tmp_path / "y.mp4")
    if how == "same":
        out = video
    elif how == "symlink":
        os.symlink(video, out)
    else:
        os.link(video, out)
    assert demo_2x(["-i", video, "-o", out, "--baseline", "average"]) == EXIT_ERROR
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: the output is the input")
    assert open(video, "rb").read() == before


def test_saved_frames_into_the_input_folder_are_refused(tmp_path, capsys):
    folder = tmp_path / "clip_2x_frames"
    paths = _pngs(folder, _frames(2))
    assert demo_2x(["-i", *paths, "-o", str(tmp_path / "clip_2x.mp4"), "--save_images",
                    "--baseline", "average"]) == EXIT_ERROR
    assert "the output is the input" in capsys.readouterr().err
    assert sorted(os.listdir(folder)) == ["frame0.png", "frame1.png"]


# 2. disk full ------------------------------------------------------------------------------

def test_a_full_disk_while_closing_is_an_error_naming_it(tmp_path):
    """A short clip stays in ffmpeg's buffers until the file is closed; /dev/full (behind a
    .mp4 name, so that ffmpeg picks the container) refuses every byte then."""
    os.symlink("/dev/full", tmp_path / "full.mp4")
    writer = VideoWriter(str(tmp_path / "full.mp4"), 10, (32, 32))
    for f in _frames(3, 32, 32):
        writer.write(f)
    with pytest.raises(OSError, match="no space left on device"):
        writer.close()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 KiB tmpfs (needs root and mount rights)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)],
                         capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {res.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_mid_stream_keeps_the_old_output_and_says_so(tmp_path, tiny_disk, capsys):
    noise = [np.random.default_rng(i).integers(0, 256, (240, 320, 3), dtype=np.uint8)
             for i in range(8)]  # noise does not compress: far more than 300 KiB
    paths = _pngs(tmp_path / "in", noise)
    out = tiny_disk / "out.mp4"
    good = _existing(out, b"g" * 50_000)
    assert demo_2x(["-i", *paths, "-o", str(out), "--baseline", "average",
                    "--no-scene-detect"]) == EXIT_ERROR
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error:") and "no space left on device" in line
    assert open(out, "rb").read() == good
    assert os.listdir(tiny_disk) == ["out.mp4"]  # no temporary left behind


# 3. a failed run leaves an existing output as it was ---------------------------------------

def test_a_one_frame_input_leaves_the_existing_output(tmp_path, capsys):
    _pngs(tmp_path / "one", _frames(1))
    out = tmp_path / "out.mp4"
    good = _existing(out)
    assert demo_2x(["-i", str(tmp_path / "one"), "-o", str(out), "--baseline", "average"]) == 2
    assert "single frame" in _one_line(capsys.readouterr().err)
    assert out.read_bytes() == good and os.listdir(tmp_path) == ["one", "out.mp4"]


def test_a_corrupt_second_image_leaves_the_existing_output(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    with open(paths[1], "r+b") as f:
        f.truncate(40)
    out = tmp_path / "out.mp4"
    good = _existing(out)
    assert demo_2x(["-i", *paths, "-o", str(out), "--baseline", "average"]) == EXIT_ERROR
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error:") and "frame1.png" in line
    assert out.read_bytes() == good and sorted(os.listdir(tmp_path)) == ["in", "out.mp4"]


def test_demo_8x_with_a_corrupt_image_leaves_the_existing_output(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    with open(paths[1], "r+b") as f:
        f.truncate(40)
    os.makedirs(tmp_path / "o")
    good = _existing(tmp_path / "o" / "8x.mp4")
    assert demo_8x(["-x", paths[0], "-y", paths[1], "-o", str(tmp_path / "o")]) == EXIT_ERROR
    assert _one_line(capsys.readouterr().err).startswith("error:")
    assert (tmp_path / "o" / "8x.mp4").read_bytes() == good
    assert os.listdir(tmp_path / "o") == ["8x.mp4"]


# 4. concurrent runs, signals, odd output paths ---------------------------------------------

def test_two_runs_with_the_same_output_do_not_share_a_temporary(tmp_path, monkeypatch):
    """The second run starts and finishes while the first is half-way (from its progress
    callback); each writes its own temporary, so both results are whole videos."""
    _use(monkeypatch, Blend())
    first = _pngs(tmp_path / "a", _frames(4, seed=1))
    second = _pngs(tmp_path / "b", _frames(3, seed=2))
    out = str(tmp_path / "out.mp4")
    seen = []

    def midway(done, total):
        if done == 2 and not seen:
            seen.append(run(second, out, n_iter=1).frames)
            seen.append(len(_decode(out)[0]))
    s = run(first, out, n_iter=1, progress=midway)
    assert seen == [5, 5]
    assert s.frames == len(_decode(out)[0]) == 7
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "out.mp4"]


class SignalsAt(Blend):
    """Sends this process `signum` during call number `at`, as a user or `kill` would."""

    def __init__(self, at: int, signum: int) -> None:
        self.at, self.signum, self.calls = at, signum, 0

    def interpolate(self, img0, img1, ts):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), self.signum)
            time.sleep(0.5)  # the signal arrives here
        return super().interpolate(img0, img1, ts)


@pytest.mark.parametrize("signum,why", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_a_signal_keeps_the_finished_frames_as_a_partial_file(tmp_path, monkeypatch, capsys,
                                                              signum, why):
    _use(monkeypatch, SignalsAt(4, signum))
    video = _video(tmp_path / "in.mp4", _frames(10), 10)
    out = tmp_path / "out.mp4"
    good = _existing(out)
    assert demo_2x(["-i", video, "-o", str(out)]) == EXIT_PARTIAL
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("partial: 6 frames") and why in line and "out.partial.mp4" in line
    assert out.read_bytes() == good
    assert len(_decode(str(tmp_path / "out.partial.mp4"))[0]) == 6
    assert sorted(os.listdir(tmp_path)) == ["in.mp4", "out.mp4", "out.partial.mp4"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


def test_a_second_ctrl_c_while_closing_does_not_lose_the_finished_frames(tmp_path, monkeypatch,
                                                                          capsys):
    _use(monkeypatch, SignalsAt(4, signal.SIGINT))
    close = VideoWriter.close

    def impatient_close(self):
        os.kill(os.getpid(), signal.SIGINT)  # 50 ms after the first, while the file closes
        time.sleep(0.2)
        close(self)
    monkeypatch.setattr(VideoWriter, "close", impatient_close)
    video = _video(tmp_path / "in.mp4", _frames(10), 10)
    assert demo_2x(["-i", video, "-o", str(tmp_path / "out.mp4")]) == EXIT_PARTIAL
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "note: still closing the output; the finished frames will be kept"
    assert len(err) == 2 and err[1].startswith("partial: 6 frames")
    assert len(_decode(str(tmp_path / "out.partial.mp4"))[0]) == 6


def test_ctrl_c_while_a_finished_video_closes_still_delivers_it(tmp_path, monkeypatch, capsys):
    _use(monkeypatch, Blend())
    close = VideoWriter.close

    def interrupted_close(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        close(self)
    monkeypatch.setattr(VideoWriter, "close", interrupted_close)
    video = _video(tmp_path / "in.mp4", _frames(4), 10)
    assert demo_2x(["-i", video, "-o", str(tmp_path / "out.mp4")]) == 0
    assert "still closing" in capsys.readouterr().err
    assert len(_decode(str(tmp_path / "out.mp4"))[0]) == 7


def test_sigterm_to_the_script_keeps_a_partial_file_and_exits_3(tmp_path):
    frames = _frames(24, 256, 256)
    paths = _pngs(tmp_path / "in", frames)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "demos/demo_2x.py", "-i", *paths, "-n", "2",
                             "--save_images", "-o", str(out), "-c", AMT_S],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": PROJECT_ROOT})
    deadline = time.time() + 120
    while time.time() < deadline:  # until frames are finished (the PNGs show them)
        assert proc.poll() is None, proc.communicate()
        pngs = [p for p in tmp_path.glob(".out_frames.amt-tmp*/*.png")]
        if len(pngs) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_PARTIAL, err
    assert "SIGTERM" in err.strip().splitlines()[-1] and "partial:" in err
    assert not out.exists() and (tmp_path / "out.partial.mp4").exists()
    kept = len(_decode(str(tmp_path / "out.partial.mp4"))[0])
    assert kept >= 2 and f"partial: {kept} frames" in err
    assert len(os.listdir(tmp_path / "out.partial_frames")) == kept


def test_an_existing_folder_named_like_a_video_is_refused(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    os.makedirs(tmp_path / "existing_dir.mp4")
    assert demo_2x(["-i", *paths, "-o", str(tmp_path / "existing_dir.mp4"),
                    "--baseline", "average"]) == EXIT_ERROR
    assert "is a folder" in _one_line(capsys.readouterr().err)
    assert os.listdir(tmp_path / "existing_dir.mp4") == []


@pytest.mark.parametrize("ext", [".avi", ".mkv", ".mov"])
def test_a_video_extension_is_a_file_in_that_container(tmp_path, capsys, ext):
    paths = _pngs(tmp_path / "in", _frames(2))
    out = tmp_path / f"clip{ext}"
    assert demo_2x(["-i", *paths, "-o", str(out), "--baseline", "average"]) == 0
    assert out.is_file() and len(_decode(str(out))[0]) == 3
    probe = subprocess.run([video_io.imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(out)],
                           capture_output=True, text=True).stderr
    assert {".avi": "avi", ".mkv": "matroska", ".mov": "mov"}[ext] in probe


def test_an_extension_the_writer_cannot_make_is_refused(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    assert demo_2x(["-i", *paths, "-o", str(tmp_path / "clip.webm"),
                    "--baseline", "average"]) == EXIT_ERROR
    assert ".webm" in _one_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["in"]


# 5. garbage in -----------------------------------------------------------------------------

def test_a_truncated_video_is_partial_and_says_it_ended_early(tmp_path, capsys):
    video = _video(tmp_path / "in.mkv", _frames(40), 10)
    data = open(video, "rb").read()
    (tmp_path / "broken.mkv").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", str(tmp_path / "broken.mkv"), "-o", str(out),
                    "--baseline", "average"]) == EXIT_PARTIAL
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("partial:") and "ended early" in line
    assert not out.exists() and (tmp_path / "out.partial.mp4").exists()
    kept = len(_decode(str(tmp_path / "out.partial.mp4"))[0])
    assert kept >= 2 and line.startswith(f"partial: {kept} frames")


def test_a_corrupt_image_in_the_middle_is_partial(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(5))
    with open(paths[2], "r+b") as f:
        f.truncate(40)
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", *paths, "-o", str(out), "--baseline", "average"]) == EXIT_PARTIAL
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("partial: 2 frames") and "frame2.png" in line
    assert len(_decode(str(tmp_path / "out.partial.mp4"))[0]) == 2 and not out.exists()


def test_exif_orientation_is_applied_as_read_rgb_does(tmp_path):
    from PIL import Image
    frames = _frames(2, 40, 60)
    paths = []
    for i, f in enumerate(frames):
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
        paths.append(str(tmp_path / f"p{i}.jpg"))
        Image.fromarray(f).save(paths[-1], exif=exif, quality=95)
    decoded = list(read_frames(open_source(paths)))
    assert decoded[0].shape == (60, 40, 3)
    assert np.array_equal(decoded[0], read_rgb(paths[0]))


class NonFinite(Blend):
    def interpolate(self, img0, img1, ts):
        return torch.full((len(ts), *img0.shape), float("nan"))


def test_non_finite_output_frames_are_never_written(tmp_path, monkeypatch, capsys):
    _use(monkeypatch, NonFinite())
    paths = _pngs(tmp_path / "in", _frames(3))
    out = tmp_path / "out.mp4"
    good = _existing(out)
    assert demo_2x(["-i", *paths, "-o", str(out)]) == EXIT_ERROR
    assert "non-finite" in _one_line(capsys.readouterr().err)
    assert out.read_bytes() == good and sorted(os.listdir(tmp_path)) == ["in", "out.mp4"]


# 6. absurd rates and sizes -----------------------------------------------------------------

@pytest.mark.parametrize("args,msg", [
    (["--fps", "1e9"], "--fps"),
    (["--factor", "1000000"], "frames per input pair"),
    (["--fps", "nan"], "--fps"),
    (["-r", "1e9"], "-r"),
    (["--scale", "0"], "--scale"),
    (["--scene-threshold", "7"], "--scene-threshold"),
])
def test_absurd_rates_and_sizes_are_refused_up_front(tmp_path, capsys, args, msg):
    paths = _pngs(tmp_path / "in", _frames(2))
    start = time.time()
    assert demo_2x(["-i", *paths, "-o", str(tmp_path / "o.mp4"), "--baseline", "average",
                    *args]) == EXIT_ERROR
    assert msg in _one_line(capsys.readouterr().err)
    assert time.time() - start < 5 and sorted(os.listdir(tmp_path)) == ["in"]


@pytest.mark.parametrize("options,msg", [
    (dict(factor=0), "--factor must be"),
    (dict(factor=300), "--factor 300 makes 300 frames per input pair"),
    (dict(n_iter=9), "-n must be between 0 and 8"),
    (dict(n_iter=3, limits=pipeline.Limits(max_frames_per_pair=4)), "-n 3 makes 8 frames"),
    (dict(fps=0.0), "--fps must be"),
    (dict(fps=float("inf")), "--fps must be"),
    (dict(fps=60.0, factor=2), "not both"),
    (dict(frame_rate=-1.0), "-r must be"),
    (dict(scale=0.3), "--scale: scale_factor 0.3"),
    (dict(dtype="fp8"), "--dtype must be one of"),
    (dict(scene_threshold=float("nan")), "--scene-threshold"),
])
def test_a_bad_option_is_refused_when_the_options_are_made(tmp_path, options, msg):
    with pytest.raises(DemoError, match=msg):
        InterpolationOptions(["missing0.png", "missing1.png"], str(tmp_path / "o.mp4"), **options)


def test_a_bad_option_is_named_before_any_input_is_read_or_output_made(tmp_path, capsys):
    """The inputs do not exist and the output folder would have to be made: the option is
    what the line names, and the folder is not created."""
    out = tmp_path / "new" / "o.mp4"
    assert demo_2x(["-i", str(tmp_path / "missing.png"), str(tmp_path / "m2.png"), "-o",
                    str(out), "--factor", "0"]) == EXIT_ERROR
    assert _one_line(capsys.readouterr().err) == \
        "error: --factor must be a whole number >= 1, got 0"
    assert list(tmp_path.iterdir()) == []


def test_the_options_are_frozen_and_keep_their_inputs_as_a_tuple():
    options = InterpolationOptions(["a.png", "b.png"], "o.mp4")
    assert options.inputs == ("a.png", "b.png")
    assert InterpolationOptions("clip.mp4", "o.mp4").inputs == ("clip.mp4",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.fps = 60.0  # type: ignore[misc]


def test_a_baseline_copies_still_pixels_through_the_same_predictor_path():
    """keep_still reaches the baselines as it reaches the model: the Method's predictor."""
    ip, label = pipeline.load_interpolator(
        InterpolationOptions(["a.png", "b.png"], "o.mp4", baseline="average", keep_still=True))
    a, b = torch.rand(2, 1, 3, 8, 8)
    b[..., :4] = a[..., :4]
    a[..., 4:], b[..., 4:] = 0.0, 1.0
    out = ip.interpolate(a, b, [0.25])
    assert out.shape == (1, 1, 3, 8, 8) and not ip.recursive and "averaging" in label
    assert torch.equal(out[0, ..., :4], a[..., :4])
    assert torch.allclose(out[0, ..., 4:], torch.full_like(a[..., 4:], 0.25))


def test_frame_size_and_output_frame_limits(tmp_path, monkeypatch):
    _use(monkeypatch, Blend())
    paths = _pngs(tmp_path / "in", _frames(3))
    with pytest.raises(DemoError, match="pixels per frame"):
        run(paths, str(tmp_path / "o.mp4"), limits=pipeline.Limits(max_pixels=1000))
    with pytest.raises(DemoError, match="output frames"):
        run(paths, str(tmp_path / "o.mp4"), n_iter=3, limits=pipeline.Limits(max_frames=10))
    s = run(paths, str(tmp_path / "o.mp4"), n_iter=2, limits=pipeline.Limits(max_frames=10))
    assert s.frames == 9


# 7. out of memory --------------------------------------------------------------------------

def _oom_at(at: int, error):
    calls = {"n": 0}
    real = Interpolator.interpolate

    def interpolate(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == at:
            raise error
        return real(self, *a, **k)
    return interpolate


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
    RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory"),
])
def test_out_of_memory_in_the_network_is_its_own_error(tmp_path, monkeypatch, capsys, error):
    monkeypatch.setattr(Interpolator, "interpolate", _oom_at(2, error))
    paths = _pngs(tmp_path / "in", _frames(3))
    out = tmp_path / "out.mp4"
    code = demo_2x(["-i", *paths, "-o", str(out), "-c", AMT_S])
    line = _one_line(capsys.readouterr().err)
    assert code == EXIT_PARTIAL and line.startswith("partial: 2 frames")
    assert "out of memory" in line and "--scale 0.5" in line and "--dtype fp16" in line
    assert "broke off" not in line and not out.exists()
    assert len(_decode(str(tmp_path / "out.partial.mp4"))[0]) == 2


def test_out_of_memory_in_demo_8x(tmp_path, monkeypatch, capsys):
    _use(monkeypatch, FailsAt(1, torch.OutOfMemoryError("CUDA out of memory")))
    paths = _pngs(tmp_path / "in", _frames(2))
    assert demo_8x(["-x", paths[0], "-y", paths[1], "-o", str(tmp_path / "o")]) == EXIT_ERROR
    assert "out of memory" in _one_line(capsys.readouterr().err)
    assert os.listdir(tmp_path / "o") == []


def test_out_of_memory_while_loading_the_model_is_one_line(tmp_path, monkeypatch, capsys):
    def full(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
    monkeypatch.setattr(pipeline, "load_interpolator", full)
    paths = _pngs(tmp_path / "in", _frames(2))
    assert demo_2x(["-i", *paths, "-o", str(tmp_path / "o.mp4")]) == EXIT_ERROR
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: out of memory on") and "--scale 0.5" in line


def test_the_script_with_an_oom_in_the_network_exits_non_zero(tmp_path):
    """demos/demo_2x.py as a process, the model's forward pass raising CUDA's OOM."""
    paths = _pngs(tmp_path / "in", _frames(2))
    code = ("import sys, torch, networks\n"
            "def oom(*a, **k):\n"
            "    raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 9 GiB')\n"
            "networks.AMT.encode = oom\n"
            "from demos.demo_2x import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    res = subprocess.run([sys.executable, "-c", code, "-i", *paths, "-o", str(tmp_path / "o.mp4"),
                          "-c", AMT_S],
                         capture_output=True, text=True, cwd=PROJECT_ROOT,
                         env={**os.environ, "PYTHONPATH": PROJECT_ROOT})
    assert res.returncode == EXIT_ERROR, res.stderr
    assert "out of memory" in _one_line(res.stderr) and "Traceback" not in res.stderr


def test_help_documents_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        demo_2x(["--help"])
    out = capsys.readouterr().out
    assert "exit status" in out and "3" in out and "partial" in out


def test_a_run_refused_after_the_checks_leaves_no_output_folder(tmp_path, capsys):
    """A checkpoint that is not there is found only when the model loads, after the output
    checks: the output folder that would have held the video is not made for nothing."""
    paths = _pngs(tmp_path / "in", _frames(2))
    assert demo_2x(["-i", *paths, "-o", str(tmp_path / "new" / "deeper"),
                    "-p", str(tmp_path / "amt-s.pth")]) == EXIT_ERROR
    assert "not found" in _one_line(capsys.readouterr().err)
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_an_output_folder_under_a_file_is_one_line(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    (tmp_path / "afile").write_bytes(b"not a folder")
    assert demo_2x(["-i", *paths, "-o", str(tmp_path / "afile" / "out.mp4"),
                    "--baseline", "average"]) == EXIT_ERROR
    assert "is a file" in _one_line(capsys.readouterr().err)
    assert (tmp_path / "afile").read_bytes() == b"not a folder"
