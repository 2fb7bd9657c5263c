from fractions import Fraction

import pytest

from utils.video_formats import parse_rate, rate_text, snap_rate
from utils.video_probe import (ProbeError, parse_colour_tags, parse_probe, parse_stream,
                               parse_framecrc, pix_fmt_alpha, pix_fmt_depth, resolve_colour,
                               times_from_packets)
from tests.utils.video_clips import make_clip, make_vfr_clip
from utils.video_probe import frame_times, probe

HD = ("  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, "
      "progressive), 1280x720 [SAR 1:1 DAR 16:9], 5837 kb/s, 29.97 fps, 29.97 tbr, 30k tbn")


def test_a_stream_line_gives_codec_format_tags_size_and_rate():
    s = parse_stream(HD)
    assert (s["codec"], s["pix_fmt"], s["size"]) == ("h264", "yuv420p", (1280, 720))
    assert s["fps"] == 29.97
    assert parse_colour_tags(s["tags"]) == ("bt709", "bt709", "bt709", "tv")
    hdr = parse_stream("Stream #0:0: Video: hevc (Main 10), yuv420p10le(tv, bt2020nc/bt2020/"
                       "smpte2084, progressive), 3840x2160, 23.98 fps, 23.98 tbr, 1k tbn")
    assert parse_colour_tags(hdr["tags"]) == ("bt2020nc", "bt2020", "smpte2084", "tv")
    cover = "Stream #0:1: Video: mjpeg, yuvj420p(pc), 600x600, 90k tbr (attached pic)"
    assert parse_stream(cover) is None
    assert parse_stream("Stream #0:1(und): Audio: aac (LC), 48000 Hz, stereo") is None


@pytest.mark.parametrize("fmt, depth, alpha", [
    ("yuv420p", 8, False), ("yuv420p10le", 10, False), ("p010le", 10, False),
    ("yuva444p12le", 12, True), ("gbrap16le", 16, True), ("rgb48le", 16, False),
    ("rgba", 8, True), ("gray16le", 16, False), ("nv12", 8, False), ("bgra", 8, True)])
def test_depth_and_alpha_from_the_pixel_format(fmt, depth, alpha):
    assert (pix_fmt_depth(fmt), pix_fmt_alpha(fmt)) == (depth, alpha)


def test_untagged_video_is_taken_as_players_take_it_and_says_so():
    hd, sd = resolve_colour("yuv420p", 720, ["progressive"]), resolve_colour("yuv420p", 480, [])
    assert (hd.matrix, hd.primaries, hd.range) == ("bt709", "bt709", "tv")
    assert (sd.matrix, sd.primaries) == ("smpte170m", "smpte170m")
    assert "BT.709" in hd.assumed and "BT.601" in sd.assumed
    assert resolve_colour("yuvj420p", 480, []).range == "pc"
    assert resolve_colour("yuv420p", 720, ["tv", "bt709"]).assumed == ""
    rgb = resolve_colour("gbrp10le", 480, [])
    assert rgb.rgb and rgb.range == "pc"


def test_a_file_that_is_not_a_video_is_one_line(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ProbeError, match="cannot read video"):
        probe(str(bad))
    with pytest.raises(ProbeError, match="no video stream"):
        parse_probe("a.m4a", "Input #0, mov\n  Stream #0:0: Audio: aac, 44100 Hz")


def test_rotation_swaps_the_decoded_size():
    text = HD + "\n      Side data:\n        displaymatrix: rotation of -90.00 degrees"
    info = parse_probe("p.mp4", text)
    assert (info.width, info.height) == (720, 1280)


@pytest.mark.parametrize("text, rate", [("60", 60), ("29.97", Fraction(30000, 1001)),
                                        ("23.976", Fraction(24000, 1001)),
                                        ("60000/1001", Fraction(60000, 1001)), ("12.5", 12.5)])
def test_rates_are_exact_fractions(text, rate):
    assert parse_rate(text) == rate
    assert snap_rate(Fraction(2997, 100)) == Fraction(30000, 1001)
    assert rate_text(Fraction(24000, 1001)) == "23.976 (24000/1001)"


@pytest.mark.parametrize("text", ["abc", "1/0", ""])
def test_a_malformed_rate_is_refused(text):
    with pytest.raises(ValueError, match="not a frame rate"):
        parse_rate(text)


def test_packet_times_give_the_exact_rate_or_the_variable_times():
    ntsc = times_from_packets(Fraction(1, 30000), [(i * 1001, 1001) for i in (0, 2, 1, 3)])
    assert ntsc.constant and ntsc.fps == Fraction(30000, 1001)
    assert ntsc.times[3] == Fraction(3 * 1001, 30000)
    # a millisecond time base rounds 1/30 s to 33 or 34 ticks: still constant, on the grid
    ms = times_from_packets(Fraction(1, 1000), [(0, 33), (33, 33), (67, 33), (100, 33)])
    assert ms.constant and ms.fps == 30 and ms.times[2] == Fraction(2, 30)
    vfr = times_from_packets(Fraction(1, 1000), [(0, 60), (60, 20), (80, 60), (140, 20)])
    assert not vfr.constant and vfr.times == (0, Fraction(3, 50), Fraction(2, 25), Fraction(7, 50))
    assert vfr.duration == Fraction(160, 1000)


def test_probe_and_frame_times_of_real_clips(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", size="64x48", rate="30000/1001", frames=4, tags="bt601")
    info = probe(clip)
    assert (info.width, info.height, info.depth, info.colour.matrix) == (64, 48, 8, "smpte170m")
    t = frame_times(clip, info.fps)
    assert t.constant and t.fps == Fraction(30000, 1001) and len(t.times) == 4
    vfr = make_vfr_clip(tmp_path / "v.mp4", frames=6, audio=True)
    assert probe(vfr).has_audio
    t = frame_times(vfr)
    assert not t.constant and [float(x) for x in t.times] == pytest.approx(
        [0, 0.06, 0.08, 0.14, 0.16, 0.22])


@pytest.mark.parametrize("frames", [3, 30, 90])
def test_a_short_ntsc_clip_in_a_millisecond_time_base_has_the_headers_rate(tmp_path, frames):
    """Steps of 33 and 34 ms: the mean over a short clip is no NTSC rate (2000/67 for three
    frames, 3625/121 for thirty); the header's 30000/1001 agrees within a tick a frame."""
    clip = make_clip(tmp_path / "c.mkv", size="64x48", rate="30000/1001", frames=frames)
    t = frame_times(clip, probe(clip).fps)
    assert t.constant and t.fps == Fraction(30000, 1001)


NOPTS = -9223372036854775808


def test_packets_without_a_time_or_before_zero_are_left_out():
    """ffmpeg prints AV_NOPTS_VALUE for a packet without a time; negative times are
    pre-roll the decoder drops."""
    text = "\n".join(["#tb 0: 1/1000", f"0, {NOPTS}, {NOPTS}, 40, 10, 0x1",
                      "0, -80, -40, 40, 10, 0x1"] +
                     [f"0, {i * 40}, {i * 40}, 40, 10, 0x1" for i in range(3)])
    tb, packets, _ = parse_framecrc(text)
    assert packets == [(0, 40), (40, 40), (80, 40)]


def test_a_listing_that_failed_gives_way_to_the_header(tmp_path, monkeypatch):
    import subprocess
    import utils.video_probe as video_probe
    broken = subprocess.CompletedProcess([], 1, "#tb 0: 1/1000\n0, 0, 0, 40, 10, 0x1\n"
                                         "0, 7, 7, 40, 10, 0x1\n", "Invalid data found")
    monkeypatch.setattr(video_probe, "_run", lambda cmd: broken)
    assert frame_times("x.mkv", Fraction(25)) is None
