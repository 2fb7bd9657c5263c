import os
import subprocess
import sys
from fractions import Fraction

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch

import demos.pipeline as pipeline
from demos.cli import EXIT_PARTIAL
from demos.demo_2x import main as demo_2x
from demos.demo_8x import main as demo_8x
from demos.pipeline import DemoError, InterpolationOptions, timeline
from utils.scene_cuts import is_scene_cut
from utils.inference import PROJECT_ROOT
from utils.video_io import IMAGE_COLOUR, choose_output, open_source, read_frames

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def run(inputs, output, progress=None, **options):
    """pipeline.run of the options made from these arguments."""
    return pipeline.run(InterpolationOptions(inputs, output, **options), progress)


class Blend:
    """A cheap stand-in for the run's predictor (pipeline.Frames): a linear blend at t."""
    recursive, device = False, "cpu"

    def interpolate(self, img0, img1, ts):
        return torch.stack([(1 - t) * img0 + t * img1 for t in ts])


@pytest.fixture
def blend(monkeypatch):
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (Blend(), "blend"))


def _frames(n, h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h, w + n * 2, 3), dtype=np.uint8)
    return [np.ascontiguousarray(base[:, 2 * i:2 * i + w]) for i in range(n)]  # a slow pan


def _video(path, frames, fps, audio=False):
    h, w = frames[0].shape[:2]
    cmd = [FFMPEG, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={len(frames) / fps}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-qp", "0", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    return str(path)


def _pngs(folder, frames):
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, f in enumerate(frames):
        paths.append(os.path.join(folder, f"frame{i}.png"))
        cv2.imwrite(paths[-1], cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return paths


def _decode(path):
    src = open_source([path])
    return list(read_frames(src)), src


def test_two_frames_make_2n_plus_one(tmp_path, blend):
    paths = _pngs(tmp_path / "in", _frames(2))
    s = run(paths, str(tmp_path / "out.mp4"), n_iter=2)
    frames, src = _decode(str(tmp_path / "out.mp4"))
    assert s.frames == len(frames) == 2 ** 2 * (2 - 1) + 1
    assert src.fps == pytest.approx(120)  # images play at 30 fps, x4


def test_video_source_timing_and_frame_rate_flag(tmp_path, blend):
    video = _video(tmp_path / "in.mp4", _frames(5), 10)
    run([video], str(tmp_path / "a.mp4"), n_iter=1)
    frames, src = _decode(str(tmp_path / "a.mp4"))
    assert len(frames) == 9 and src.fps == pytest.approx(20)
    run([video], str(tmp_path / "b.mp4"), n_iter=1, frame_rate=25)
    assert open_source([str(tmp_path / "b.mp4")]).fps == pytest.approx(25)


def test_timeline_mapping():
    pos = timeline(Fraction(24), Fraction(60))
    first = [next(pos) for _ in range(6)]
    assert first == [Fraction(0), Fraction(2, 5), Fraction(4, 5), Fraction(6, 5), Fraction(8, 5), 2]


def test_fps_60_from_24_keeps_duration_and_source_frames(tmp_path, blend):
    src_frames = _frames(48, 64, 80)
    video = _video(tmp_path / "in.mp4", src_frames, 24)
    decoded, _ = _decode(video)
    s = run([video], str(tmp_path / "out.mp4"), fps=60, save_images=True)
    out, meta = _decode(str(tmp_path / "out.mp4"))
    assert s.frames == len(out) == 118 and meta.fps == pytest.approx(60)
    assert abs(len(out) / 60 - 48 / 24) <= 2.5 / 60  # one source frame period, at most
    pngs = sorted(os.listdir(s.images_dir))
    for k in range(0, 118, 5):  # output k is at source position 0.4 k: source frame 2k/5
        png = cv2.cvtColor(cv2.imread(os.path.join(s.images_dir, pngs[k])), cv2.COLOR_BGR2RGB)
        assert np.array_equal(png, decoded[2 * k // 5])


def test_scene_cut_repeats_frames_and_identical_pairs_are_copied(tmp_path, blend):
    a, b = _frames(2)
    cut = np.full_like(a, 0)
    cut[..., 2] = 255  # a blue frame: nothing like the pan
    assert is_scene_cut(a, cut) and not is_scene_cut(a, b)
    paths = _pngs(tmp_path / "in", [a, cut, cut])
    s = run(paths, str(tmp_path / "out.mp4"), n_iter=1, save_images=True)
    assert s.cuts == 1 and s.copies == 1
    pngs = sorted(os.listdir(s.images_dir))
    mid = cv2.cvtColor(cv2.imread(os.path.join(s.images_dir, pngs[1])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(mid, cut)  # t = 0.5 rounds to the later frame, no morph
    s = run(paths, str(tmp_path / "morph.mp4"), n_iter=1, scene_detect=False)
    assert s.cuts == 0


def test_audio_is_copied_when_duration_is_kept(tmp_path, blend):
    video = _video(tmp_path / "tone.mp4", _frames(10), 10, audio=True)
    s = run([video], str(tmp_path / "out.mp4"), n_iter=1)
    assert s.audio
    probe = subprocess.run([FFMPEG, "-i", str(tmp_path / "out.mp4")], capture_output=True, text=True)
    assert "Audio:" in probe.stderr
    s = run([video], str(tmp_path / "fast.mp4"), n_iter=1, frame_rate=50)
    assert not s.audio


def test_broken_video_keeps_a_playable_partial_output(tmp_path, blend):
    video = _video(tmp_path / "in.mkv", _frames(40), 10)  # streamable: readable when cut short
    data = open(video, "rb").read()
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(data[: len(data) // 2])
    s = run([str(broken)], str(tmp_path / "out.mp4"), n_iter=1)
    assert s.partial and s.stopped.startswith("the video ended early")
    frames, _ = _decode(str(tmp_path / "out.partial.mp4"))
    assert 0 < len(frames) == s.frames < 2 * 40 - 1
    assert sorted(os.listdir(tmp_path)) == ["broken.mkv", "in.mkv", "out.partial.mp4"]


@pytest.mark.parametrize("make,msg", [
    (lambda p: [str(p / "none.mp4")], "not found"),
    (lambda p: _pngs(p / "one", _frames(1))[:1], "single image"),
    (lambda p: [str(p / "one")], "single frame"),
    (lambda p: [str(p / "empty")], "no images"),
])
def test_bad_inputs(tmp_path, blend, make, msg):
    _pngs(tmp_path / "one", _frames(1))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DemoError, match=msg):
        run(make(tmp_path), str(tmp_path / "out.mp4"))


def test_cli_errors_are_one_line(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert demo_2x(["-i", *paths, "-o", str(blocker / "out.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    assert demo_2x(["-i", str(tmp_path / "missing.png"), str(tmp_path / "m2.png")]) == 2
    assert "not found" in capsys.readouterr().err


def test_real_model_end_to_end(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    assert demo_2x(["-i", *paths, "-n", "1", "-o", str(tmp_path), "-c", os.path.join(PROJECT_ROOT, "cfgs", "AMT-S.yaml")]) == 0
    out = capsys.readouterr().out
    assert "randomly initialised AMT-S" in out
    frames, _ = _decode(str(tmp_path / "frame0_2x.mp4"))
    assert len(frames) == 3
    assert demo_8x(["-x", paths[0], "-y", paths[1], "-o", str(tmp_path / "8x")]) == 0
    assert len(os.listdir(tmp_path / "8x" / "8x_frames")) == 9


def test_script_runs_as_published(tmp_path):
    paths = _pngs(tmp_path / "in", _frames(2))
    res = subprocess.run([sys.executable, "demos/demo_2x.py", "-i", *paths, "-n", "1", "-o",
                          str(tmp_path / "o.mp4")], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert res.returncode == 0, res.stderr
    assert "3 frames" in res.stdout


def test_baseline_methods_through_the_cli(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    assert demo_2x(["-i", *paths, "--baseline", "dis", "-o", str(tmp_path / "d.mp4")]) == 0
    assert "DIS" in capsys.readouterr().out
    frames, _ = _decode(str(tmp_path / "d.mp4"))
    assert len(frames) == 3


def test_keep_still_copies_unchanged_pixels_into_the_saved_frames(tmp_path, capsys):
    a, b = _frames(2)
    b = b.copy()
    b[:, :64] = a[:, :64]  # the left half does not change
    paths = _pngs(tmp_path / "in", [a, b])
    middles = {}
    for flag in ([], ["--keep-still"]):
        out = tmp_path / f"o{len(flag)}.mp4"
        assert demo_2x(["-i", *paths, "-n", "1", "-o", str(out), "--save_images", *flag]) == 0
        middle = tmp_path / f"o{len(flag)}_frames" / "0000001.png"
        middles[bool(flag)] = cv2.imread(str(middle))[..., ::-1]
    assert not np.array_equal(middles[False][:, :64], a[:, :64])  # the network: close, not exact
    assert np.array_equal(middles[True][:, :64], a[:, :64])
    assert capsys.readouterr().out.count("note: --keep-still: pixels identical") == 1  # 2nd run
    assert np.array_equal(middles[True][:, 72:], middles[False][:, 72:])


class InterruptedBlend(Blend):
    """Blends, then acts as if Ctrl-C arrived during the fourth pair."""
    calls = 0

    def interpolate(self, img0, img1, ts):
        InterruptedBlend.calls += 1
        if InterruptedBlend.calls == 4:
            raise KeyboardInterrupt
        return super().interpolate(img0, img1, ts)


def test_ctrl_c_closes_and_keeps_the_partial_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (InterruptedBlend(), "blend"))
    video = _video(tmp_path / "in.mp4", _frames(10), 10)
    out = str(tmp_path / "out.mp4")
    assert demo_2x(["-i", video, "-o", out]) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"partial: 6 frames kept in {tmp_path}/out.partial.mp4; "
                                        "stopped early: interrupted (Ctrl-C)"]
    frames, src = _decode(str(tmp_path / "out.partial.mp4"))
    assert len(frames) == 6  # pairs 0-1, 1-2, 2-3 done; each pair writes its start and middle
    assert not os.path.exists(out)


class FailingBlend(Blend):
    """A model call that fails mid-stream with an exception that has no message."""
    calls = 0

    def interpolate(self, img0, img1, ts):
        FailingBlend.calls += 1
        if FailingBlend.calls == 3:
            raise RuntimeError()
        return super().interpolate(img0, img1, ts)


def test_a_run_that_breaks_off_keeps_its_frames_and_names_why(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (FailingBlend(), "blend"))
    video = _video(tmp_path / "in.mp4", _frames(10), 10)
    s = run([video], str(tmp_path / "out.mp4"), n_iter=1)
    frames, _ = _decode(str(tmp_path / "out.partial.mp4"))
    assert s.partial and len(frames) == s.frames == 4  # pairs 0-1 and 1-2: start and middle each
    assert s.stopped == "the network failed (RuntimeError)"


def test_each_input_frame_is_converted_once_though_two_pairs_use_it(tmp_path, monkeypatch, blend):
    converted = []
    real = pipeline.Uploads.tensor

    def counting(self, index, frame):
        t = real(self, index, frame)
        converted.append((index, t))
        return t
    monkeypatch.setattr(pipeline.Uploads, "tensor", counting)
    paths = _pngs(tmp_path / "in", _frames(5))
    assert run(paths, str(tmp_path / "o.mp4"), n_iter=1, scene_detect=False).frames == 9
    assert [i for i, _ in converted] == [0, 1, 1, 2, 2, 3, 3, 4]  # 4 pairs ask 8 times
    for (i, t), (j, u) in zip(converted[1::2], converted[2::2]):
        assert i == j and t is u  # the second pair's first frame is the first pair's second


def test_the_uint8_device_path_equals_the_float_path_within_rounding():
    from utils.inference import to_tensor, to_uint8
    frame = _frames(1, 33, 47)[0]
    frame.setflags(write=False)  # as decoded video buffers are
    up = pipeline.Uploads("cpu")
    x = up.tensor(0, frame)
    assert x.dtype == torch.float32 and torch.equal(x, to_tensor(frame))
    out = torch.rand(3, 1, 3, 33, 47)
    mine = pipeline.to_frames(out)
    assert len(mine) == 3
    for i in range(3):
        assert np.abs(mine[i].astype(int) - to_uint8(out[i]).astype(int)).max() <= 1


class Recording(Blend):
    def __init__(self, recursive):
        self.recursive, self.sizes = recursive, []

    def interpolate(self, img0, img1, ts):
        self.sizes.append(len(ts))
        return super().interpolate(img0, img1, ts)


@pytest.mark.parametrize("recursive", [False, True])
def test_many_times_per_pair_are_asked_in_bounded_groups(tmp_path, monkeypatch, recursive):
    """A direct-time model gets at most TIMES_PER_CALL times per call, so 255 frames of a pair
    are never all in memory at once; recursive halving gets them together (it builds each
    midpoint once per call)."""
    ip = Recording(recursive)
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (ip, "recording"))
    paths = _pngs(tmp_path / "in", _frames(2))
    s = run(paths, str(tmp_path / "o.mp4"), n_iter=6, save_images=True)
    assert s.frames == 65
    assert ip.sizes == ([63] if recursive else [15, 16, 16, 16])  # 64 outputs; t = 0 is a copy
    pngs = sorted(os.listdir(s.images_dir))
    a, b = _frames(2)
    mid = cv2.imread(os.path.join(s.images_dir, pngs[32]))[..., ::-1]
    expected = np.round((a.astype(np.float32) + b) / 2).astype(np.uint8)
    assert np.abs(mid.astype(int) - expected).max() <= 1  # t = 32/64, in the third group


@pytest.mark.parametrize("flag, recursive", [([], True), (["--arbitrary-time"], False)])
def test_the_arbitrary_time_flag_reaches_the_model(tmp_path, flag, recursive):
    """The bundled checkpoint says it is a fixed-time model; --arbitrary-time overrides it."""
    from demos import demo_2x as script
    args = script.parse_args(["-i", "a.png", "b.png", "-o", str(tmp_path), *flag])
    frames, _ = pipeline.load_interpolator(script.options(args))
    assert frames.recursive is recursive


@pytest.mark.parametrize("codec, role", [("png", "video"), (None, "images")])
def test_a_rerun_into_an_image_folder_replaces_the_previous_runs_frames(tmp_path, blend, codec,
                                                                          role):
    """A second run that makes fewer frames leaves only its own (before: the first run's
    extra frames stayed, moved in file by file)."""
    paths = _pngs(tmp_path / "in", _frames(3))
    out = str(tmp_path / ("seq" if codec else "out.mp4"))
    folder = tmp_path / ("seq" if codec else "out_frames")
    run(paths, out, n_iter=2, codec=codec, save_images=True)
    assert len(os.listdir(folder)) == 9
    run(paths[:2], out, n_iter=1, codec=codec, save_images=True)
    assert sorted(os.listdir(folder)) == [f"{i:07d}.png" for i in range(3)]
    assert not [n for n in os.listdir(tmp_path) if ".amt-tmp" in n]


def test_an_image_folder_output_holding_other_files_is_refused(tmp_path, blend):
    paths = _pngs(tmp_path / "in", _frames(2))
    folder = tmp_path / "seq"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(DemoError, match="holds files this tool did not write"):
        run(paths, str(folder), codec="png")
    assert os.listdir(folder) == ["notes.txt"]


class _Breaks:
    """A writer whose first frame raises something other than OSError."""
    frames = 0

    def write(self, frame):
        raise ValueError("broken writer")

    def abort(self):
        pass


def _within(seconds, fn):
    """fn()'s exception (or None), failing the test if it has not returned in time."""
    import threading
    raised = []

    def call():
        try:
            fn()
        except BaseException as e:  # handed to the test
            raised.append(e)
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung"
    return raised[0] if raised else None


def test_a_writer_error_of_any_kind_ends_the_run(tmp_path):
    """Before: only OSError was kept; a ValueError killed the writer thread and put() then
    blocked for ever once the queue was full."""
    fmt = choose_output("", "png", 8, False, IMAGE_COLOUR)
    sink = pipeline._Output(str(tmp_path / "seq"), Fraction(10), (4, 4), None, fmt)
    sink.writer = _Breaks()
    frame = np.zeros((4, 4, 3), np.uint8)

    def feed():
        for _ in range(50):
            sink.put(frame)
        sink.close()
    error = _within(5, feed)
    sink.discard()
    assert isinstance(error, ValueError)


def test_the_reader_thread_ends_when_the_consumer_leaves_a_full_queue():
    """The items all fit but the end marker does not: before, its put() waited for ever."""
    import threading
    import time
    before = set(threading.enumerate())
    frames = pipeline._background(iter(range(3)), maxsize=2)
    assert next(frames) == 0
    time.sleep(0.3)  # the reader has queued 1 and 2 and waits to queue the end
    frames.close()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before
