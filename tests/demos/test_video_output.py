"""Colour, depth, timing and codecs through the whole tool (issue 25), on clips made with the
bundled ffmpeg and decoded by tests.utils.video_clips (not by the project's reader)."""
import os
import re
import subprocess
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch

import demos.pipeline as pipeline
from demos.demo_2x import main as demo_2x
from demos.cli import EXIT_ERROR, EXIT_OK
from tests.demos.test_pipeline import _decode, _frames, _pngs, blend, run  # noqa: F401
from tests.utils.video_clips import (FFMPEG, decode_as_tagged, duration, frame_times,
                                     info_text, make_clip, make_vfr_clip, psnr, video_line)
from utils.video_io import open_source, read_frames

AVERAGE = ["--baseline", "average", "--no-scene-detect"]


@pytest.mark.parametrize("tags, size, tag_text", [("bt709", "1280x720", "tv, bt709"),
                                                  ("bt601", "640x480", "tv, smpte170m")])
def test_source_frames_pass_through_at_40_db_with_the_inputs_tags(tmp_path, capsys, tags, size,
                                                                   tag_text):
    """The issue's bar: the output carries the input's tags, and the source frames it carries
    unchanged (every other frame of -n 1) score >= 40 dB against the input, both decoded with
    their tags. Before: untagged, BT.601-encoded, 24.1 dB for BT.709 720p."""
    clip = make_clip(tmp_path / "in.mp4", size=size, frames=3, tags=tags)
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", clip, "-n", "1", "-o", str(out), *AVERAGE]) == EXIT_OK
    assert tag_text in video_line(out)
    src, res = decode_as_tagged(clip), decode_as_tagged(out)
    assert len(res) == 5
    assert psnr(res[::2], src) >= 40


def test_a_10_bit_gradient_keeps_its_levels(tmp_path, capsys):
    clip = make_clip(tmp_path / "g10.mkv", size="1024x32", frames=2, tags="bt709",
                     source="nullsrc", pix_fmt="yuv420p10le",
                     codec=("libx265", "-x265-params", "log-level=error", "-crf", "4"),
                     geq="lum='X':cb=512:cr=512")  # a 10-bit grey ramp, 877 levels
    out = tmp_path / "out.mkv"
    assert demo_2x(["-i", clip, "-n", "1", "-o", str(out), *AVERAGE]) == EXIT_OK
    assert "yuv420p10le" in video_line(out) and "hevc" in video_line(out)
    assert "10-bit" in capsys.readouterr().out
    first = decode_as_tagged(out, bits=16)[0]
    assert len(np.unique(first[..., 1] >> 6)) > 256  # 8 bits would leave at most 256


def test_an_8_bit_only_output_of_a_deep_input_says_so(tmp_path, capsys):
    clip = make_clip(tmp_path / "g10.mkv", size="64x48", frames=2, pix_fmt="yuv420p10le",
                     codec=("libx265", "-x265-params", "log-level=error"))
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", clip, "-o", str(out), "--codec", "libx264", *AVERAGE]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.count("reduced to 8 bits") == 1 and "yuv420p(" in video_line(out)


def test_hdr_keeps_transfer_primaries_and_code_values(tmp_path, capsys):
    clip = make_clip(tmp_path / "pq.mkv", size="320x240", frames=2, tags="pq",
                     pix_fmt="yuv420p10le", codec=("libx265", "-x265-params", "log-level=error",
                                                   "-crf", "4"))
    out = tmp_path / "out.mkv"
    assert demo_2x(["-i", clip, "-n", "1", "-o", str(out), "--crf", "4", *AVERAGE]) == EXIT_OK
    assert "bt2020nc/bt2020/smpte2084" in video_line(out)
    src, res = decode_as_tagged(clip, 16), decode_as_tagged(out, 16)
    assert psnr(res[::2], src, peak=65535) >= 40  # no tone mapping: the same code values


def test_variable_frame_rate_with_audio_keeps_true_times_and_the_audio(tmp_path, blend):
    """Frames alternately 60 and 20 ms apart, out at a constant 25 fps: output frame k is the
    source at k * 40 ms (a blend at the right t between its neighbours), the duration holds
    within one frame and the audio is kept."""
    clip = make_vfr_clip(tmp_path / "vfr.mp4", frames=20)
    times = frame_times(clip)
    assert len(set(np.round(np.diff(times), 3))) == 2  # really variable
    out = tmp_path / "out.mp4"
    s = run([clip], str(out), fps=25, scene_detect=False)
    assert s.audio and "Audio:" in info_text(out)
    src, res = decode_as_tagged(clip), decode_as_tagged(out)
    assert s.frames == len(res) == int(times[-1] * 25) + 1
    assert abs(len(res) / 25 - duration(clip)) <= max(1 / 25, times[-1] - times[-2])
    assert psnr(res[2], src[2]) >= 38  # 80 ms: source frame 2 itself (re-encoded)
    third = (src[0].astype(np.float64) * (1 / 3) + src[1].astype(np.float64) * (2 / 3))
    assert psnr(res[1], third) >= 38  # 40 ms: two thirds of the way from 0 ms to 60 ms
    assert psnr(res[1], (src[0].astype(np.float64) + src[1]) / 2) < psnr(res[1], third)


def test_fractional_rates_are_exact(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(3))
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", *paths, "--fps", "24000/1001", "-o", str(out), *AVERAGE]) == EXIT_OK
    assert "23.976 (24000/1001) fps" in capsys.readouterr().out
    _, src = _decode(str(out))
    assert src.fps == Fraction(24000, 1001)
    steps = np.diff(frame_times(out))
    assert np.allclose(steps, 1001 / 24000, atol=1e-4)


def test_an_output_that_changes_duration_says_why_the_audio_was_dropped(tmp_path, capsys):
    clip = make_clip(tmp_path / "tone.mp4", size="64x48", rate="10", frames=10, audio_s=1)
    out = tmp_path / "slow.mp4"
    assert demo_2x(["-i", clip, "-n", "1", "-r", "10", "-o", str(out), *AVERAGE]) == EXIT_OK
    text = capsys.readouterr().out
    assert "the audio was not copied: the output lasts 1.9 s and the input 1 s" in text
    assert "Audio:" not in info_text(out)


@pytest.mark.parametrize("codec, name, expect", [
    ("libx265", "o.mp4", "hevc (Main)"), ("ffv1", "o.mkv", "ffv1, bgr0("),
    ("prores", "o.mov", "prores (HQ)"), ("libx264", "o.mkv", "h264")])
def test_each_codec_writes_its_format_with_the_tags(tmp_path, capsys, codec, name, expect):
    clip = make_clip(tmp_path / "in.mp4", size="64x48", frames=2, tags="bt709")
    out = tmp_path / name
    assert demo_2x(["-i", clip, "-o", str(out), "--codec", codec, *AVERAGE]) == EXIT_OK
    line = video_line(out)
    assert expect in line and "bt709" in line
    assert len(decode_as_tagged(out)) == 3
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(f"wrote {out}: 3 frames") and "bt709 primaries" in summary


def test_lossless_ffv1_of_a_10_bit_input_is_10_bit_rgb(tmp_path, capsys):
    clip = make_clip(tmp_path / "g10.mkv", size="64x48", frames=2, pix_fmt="yuv420p10le",
                     codec=("libx265", "-x265-params", "log-level=error"))
    out = tmp_path / "out.mkv"
    assert demo_2x(["-i", clip, "-o", str(out), "--codec", "ffv1", *AVERAGE]) == EXIT_OK
    assert "gbrp10le" in video_line(out)


@pytest.mark.parametrize("codec, ext", [("png", ".png"), ("tiff", ".tif")])
def test_image_sequences_are_written_into_a_folder_at_the_sources_depth(tmp_path, capsys,
                                                                       codec, ext):
    clip = make_clip(tmp_path / "g10.mkv", size="64x48", frames=2, pix_fmt="yuv420p10le",
                     codec=("libx265", "-x265-params", "log-level=error"))
    assert demo_2x(["-i", clip, "-o", str(tmp_path / "res"), "--codec", codec,
                    *AVERAGE]) == EXIT_OK
    folder = tmp_path / "res" / "g10_2x"
    files = sorted(os.listdir(folder))
    assert files == [f"{i:07d}{ext}" for i in range(3)]
    img = cv2.imread(str(folder / files[0]), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (48, 64, 3)
    assert not [n for n in os.listdir(tmp_path / "res") if ".amt-tmp" in n]


@pytest.mark.parametrize("args, msg", [
    (["--codec", "ffv1", "--crf", "10"], "--crf does not apply to FFV1"),
    (["--codec", "prores", "--lossless"], "--lossless: ProRes is not lossless"),
    (["--crf", "60"], "--crf must be a whole number from 0 to 51"),
    (["--codec", "prores", "-o", "{tmp}/x.mp4"], "--codec prores cannot be written as .mp4"),
    (["--codec", "png", "-o", "{tmp}/x.mp4"], "--codec png writes a folder of images"),
    (["--fps", "24000/0"], "not a frame rate"),
])
def test_bad_output_choices_are_one_line(tmp_path, capsys, args, msg):
    paths = _pngs(tmp_path / "in", _frames(2))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "o.mp4")]
    assert demo_2x(["-i", *paths, *AVERAGE, *args]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error:") and msg in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["in"]


def test_untagged_hd_is_read_as_players_read_it_and_says_so(tmp_path, capsys):
    clip = make_clip(tmp_path / "hd.mp4", size="1280x720", frames=2, tags=None)  # BT.601-coded
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", clip, "-o", str(out), *AVERAGE]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.count("untagged: decoded as BT.709 (HD, as players assume)") == 1
    assert "tv, bt709" in video_line(out)
    assert psnr(decode_as_tagged(out)[::2], decode_as_tagged(clip)) >= 40


class Channels:
    """A blend that records the channel count the pipeline hands the predictor."""
    recursive, device = False, "cpu"

    def __init__(self):
        self.seen = []

    def interpolate(self, img0, img1, ts):
        self.seen.append(img0.shape[1])
        return torch.stack([(1 - t) * img0 + t * img1 for t in ts])


def _rgba_clip(path, n=3):
    """An opaque 16x16 square moving 8 px a frame on a transparent background (FFV1 RGBA)."""
    frames = []
    for i in range(n):
        f = np.zeros((48, 64, 4), np.uint8)
        f[16:32, 8 + 8 * i:24 + 8 * i] = (255, 128, 0, 255)
        frames.append(f)
    subprocess.run([FFMPEG, "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgba", "-s",
                    "64x48", "-r", "10", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "bgra",
                    str(path)], input=b"".join(f.tobytes() for f in frames), check=True)
    return str(path), frames


@pytest.mark.parametrize("codec, name", [("ffv1", "o.mkv"), ("prores", "o.mov"), ("png", "seq")])
def test_alpha_goes_through_the_predictor_and_into_an_alpha_output(tmp_path, monkeypatch,
                                                                   codec, name):
    ip = Channels()
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (ip, "channels"))
    clip, frames = _rgba_clip(tmp_path / "rgba.mkv")
    s = run([clip], str(tmp_path / name), codec=codec, scene_detect=False)
    assert set(ip.seen) == {4} and "alpha" in s.video
    if codec == "png":  # read as files: utils.images keeps alpha only after the merge
        folder = tmp_path / name
        decoded = [cv2.cvtColor(cv2.imread(str(folder / n), cv2.IMREAD_UNCHANGED),
                                cv2.COLOR_BGRA2RGBA) for n in sorted(os.listdir(folder))]
    else:
        decoded = list(read_frames(open_source([str(tmp_path / name)]), keep_alpha=True))
    assert len(decoded) == 5 and decoded[0].shape[2] == 4
    alpha0 = decoded[0][..., 3].astype(float) / (65535 if decoded[0].dtype == np.uint16 else 255)
    assert np.abs(alpha0 - frames[0][..., 3] / 255).max() < 0.02


def test_no_alpha_drops_it_with_a_note(tmp_path, monkeypatch):
    ip = Channels()
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (ip, "channels"))
    clip, _ = _rgba_clip(tmp_path / "rgba.mkv")
    s = run([clip], str(tmp_path / "o.mkv"), codec="ffv1", keep_alpha=False, scene_detect=False)
    assert set(ip.seen) == {3} and "alpha" not in s.video
    assert any("alpha channel was dropped (--no-alpha" in n for n in s.notes)


def test_an_image_sequence_named_with_a_fractional_rate_is_a_folder(tmp_path, capsys):
    paths = _pngs(tmp_path / "in", _frames(2))
    assert demo_2x(["-i", *paths, "--fps", "59.94", "--codec", "png", "-o",
                    str(tmp_path / "res"), *AVERAGE]) == EXIT_OK
    assert os.listdir(tmp_path / "res") == ["frame0_59.94fps"]
    assert "59.94 (60000/1001) fps" in capsys.readouterr().out


def test_uint16_frames_go_to_the_model_as_float_and_come_back_at_16_bits():
    from utils.images import to_tensor
    frame = np.random.default_rng(0).integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    frame.setflags(write=False)  # as decoded video buffers are
    x = pipeline.Uploads("cpu").tensor(0, frame)
    assert x.dtype == torch.float32 and torch.allclose(x, to_tensor(frame), atol=1e-7)
    out = pipeline.to_frames(x.unsqueeze(0), np.uint16)[0]
    assert out.dtype == np.uint16 and np.array_equal(out, frame)
    rgba = np.zeros((4, 5, 4), np.uint8)
    assert pipeline.Uploads("cpu").tensor(0, rgba).shape == (1, 4, 4, 5)


def test_timed_positions_follow_the_frames_own_times():
    times = [Fraction(0), Fraction(60, 1000), Fraction(80, 1000), Fraction(140, 1000)]
    pos = pipeline.timed_positions(times, Fraction(25))
    got = [next(pos) for _ in range(5)]
    # 0, 40, 80, 120, 160 ms: frame 0; 2/3 of 0-60 ms; frame 2; 2/3 of 80-140 ms; past the end
    assert got[:4] == [0, Fraction(2, 3), 2, Fraction(8, 3)] and got[4] > 3
    same = pipeline.timed_positions([Fraction(0), Fraction(0), Fraction(1, 10)], Fraction(20))
    assert [next(same) for _ in range(2)] == [1, Fraction(3, 2)]  # a repeated time is passed


def test_colorspace_and_lossless_choices(tmp_path, capsys):
    clip = make_clip(tmp_path / "in.mp4", size="64x48", frames=2, tags="bt709")
    out = tmp_path / "601.mp4"
    assert demo_2x(["-i", clip, "-o", str(out), "--colorspace", "bt601", *AVERAGE]) == EXIT_OK
    assert "tv, smpte170m" in video_line(out)
    out = tmp_path / "lossless.mkv"
    assert demo_2x(["-i", clip, "-o", str(out), "--lossless", *AVERAGE]) == EXIT_OK
    assert "yuv444p(tv, bt709" in video_line(out)
    assert psnr(decode_as_tagged(out)[::2], decode_as_tagged(clip)) > 45


def test_audio_stays_in_sync_with_a_video_that_starts_late(tmp_path, capsys):
    """The source's video starts 0.5 s after its audio: so does the output's."""
    video = make_clip(tmp_path / "v.mp4", size="64x48", rate="10", frames=10)
    late = tmp_path / "late.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-itsoffset", "0.5", "-i", video, "-f", "lavfi", "-i",
                    "sine=duration=1.5", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a",
                    "aac", str(late)], check=True)
    assert frame_times(late)[0] == pytest.approx(0.5, abs=0.01)
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", str(late), "-n", "1", "-o", str(out), *AVERAGE]) == EXIT_OK
    assert "audio copied" in capsys.readouterr().out
    assert frame_times(out)[0] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("audio", [False, True])
def test_an_mpeg_ts_clip_runs_whole_with_its_audio_in_sync(tmp_path, capsys, audio):
    """MPEG-TS starts its clock at about 1.4 s: the packet listing counts from the file's
    start, so the header's duration is compared from there too (before: 'ended early')."""
    clip = str(tmp_path / "in.ts")
    cmd = [FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10"]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"]
    subprocess.run(cmd + ["-frames:v", "10", "-c:v", "libx264", "-pix_fmt", "yuv420p", clip],
                   check=True)
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", clip, "-n", "1", "-o", str(out), *AVERAGE]) == EXIT_OK
    text = capsys.readouterr().out
    assert len(frame_times(out)) == 19
    if audio:  # the video starts after the audio by as much as in the source
        assert "audio copied" in text
        starts = [float(m) for m in re.findall(r"Stream #0:\d.*start (\d+\.\d+)",
                                                info_text(clip))]
        assert frame_times(out)[0] == pytest.approx(starts[0] - starts[1], abs=0.005)


def test_audio_shorter_than_the_video_keeps_every_frame(tmp_path, capsys):
    clip = make_clip(tmp_path / "short.mp4", size="64x48", rate="10", frames=10, audio_s=0.4)
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", clip, "-n", "1", "-o", str(out), *AVERAGE]) == EXIT_OK
    assert "audio copied" in capsys.readouterr().out
    assert len(frame_times(out)) == 19


def test_audio_longer_than_the_video_is_cut_at_its_end(tmp_path, capsys):
    video = make_clip(tmp_path / "v.mp4", size="64x48", rate="10", frames=10)
    long = tmp_path / "long.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-i", video, "-f", "lavfi", "-i", "sine=duration=5",
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(long)],
                   check=True)
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", str(long), "-n", "1", "-o", str(out), *AVERAGE]) == EXIT_OK
    assert len(frame_times(out)) == 19
    assert duration(out) == pytest.approx(0.95, abs=0.06)


def test_an_rgba_tiff_sequence_says_its_fourth_channel_is_alpha(tmp_path, capsys):
    """Written by utils.images.write_image, the project's one image writer: its TIFFs carry
    ExtraSamples (tag 338) = 2, straight alpha (OpenCV's own writer leaves it out)."""
    from PIL import Image
    clip, _ = _rgba_clip(tmp_path / "rgba.mkv")
    out = tmp_path / "seq"
    assert demo_2x(["-i", clip, "-o", str(out), "--codec", "tiff", *AVERAGE]) == EXIT_OK
    folder = out / "rgba_2x"
    files = sorted(os.listdir(folder))
    assert len(files) == 5
    for name in files:
        with Image.open(folder / name) as im:
            assert im.mode == "RGBA" and im.tag_v2.get(338) in (2, (2,))


def test_colorspace_on_hdr_changes_the_matrix_and_keeps_the_transfer(tmp_path, capsys):
    """--colorspace names a matrix and primaries; a PQ/HLG source keeps its transfer (the
    code values are PQ: a BT.709 transfer tag would show them washed out), and the 8-bit
    output still says that HDR bands there."""
    clip = make_clip(tmp_path / "pq.mkv", size="64x48", frames=2, tags="pq",
                     pix_fmt="yuv420p10le", codec=("libx265", "-x265-params", "log-level=error"))
    out = tmp_path / "out.mp4"
    assert demo_2x(["-i", clip, "-o", str(out), "--codec", "libx264", "--colorspace", "bt709",
                    *AVERAGE]) == EXIT_OK
    assert "bt709/bt709/smpte2084" in video_line(out)
    assert "an HDR (smpte2084) source written at 8 bits" in capsys.readouterr().out
