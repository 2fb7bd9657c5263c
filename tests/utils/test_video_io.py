import os
from fractions import Fraction

import numpy as np
import pytest

from tests.utils.video_clips import decode_as_tagged, make_clip, psnr, video_line
from utils.atomic import OutputError
from utils.video_io import (IMAGE_COLOUR, ImageSequenceWriter, VideoWriter, choose_output,
                            open_source, read_frames, video_frames)
from utils.video_probe import Colour, last_line


@pytest.mark.parametrize("tags, size", [("bt709", "320x240"), ("bt601", "320x240"),
                                        (None, "1280x720")])
def test_frames_decode_with_the_sources_own_matrix(tmp_path, tags, size):
    clip = make_clip(tmp_path / "c.mp4", size=size, frames=2, tags=tags)
    frames = np.stack(list(video_frames(clip)))
    assert frames.dtype == np.uint8
    assert np.array_equal(frames, decode_as_tagged(clip))  # untagged 720p: as BT.709


def test_deeper_sources_decode_to_uint16_and_eight_bit_on_request(tmp_path):
    clip = make_clip(tmp_path / "c.mkv", size="64x48", frames=2, pix_fmt="yuv420p10le",
                     codec=("libx265", "-x265-params", "log-level=error"))
    deep = list(video_frames(clip))
    assert deep[0].dtype == np.uint16 and deep[0].shape == (48, 64, 3)
    assert np.array_equal(deep[0], decode_as_tagged(clip, 16)[0])
    eight = next(video_frames(clip, eight_bit=True))
    assert eight.dtype == np.uint8 and np.abs(eight.astype(int) - deep[0] / 257).max() <= 0.5


def test_alpha_is_decoded_when_asked(tmp_path):
    clip = make_clip(tmp_path / "a.mkv", size="64x48", frames=2, tags=None,
                     pix_fmt="yuva444p", codec=("ffv1",))
    src = open_source([clip])
    assert src.alpha
    assert next(read_frames(src, keep_alpha=True)).shape == (48, 64, 4)
    assert next(read_frames(src)).shape == (48, 64, 3)


def test_choose_output_keeps_depth_where_the_codec_can_and_says_when_not():
    hd = Colour("bt709", "bt709", "bt709", "tv")
    assert choose_output(".mp4", None, 8, False, hd).codec == "libx264"
    deep = choose_output(".mkv", None, 10, False, hd)
    assert (deep.codec, deep.pix_fmt, deep.notes) == ("libx265", "yuv420p10le", ())
    x264 = choose_output(".mp4", "libx264", 10, False, hd)
    assert x264.depth == 8 and "reduced to 8 bits" in x264.notes[0]
    assert choose_output(".mov", "prores", 8, True, hd).pix_fmt == "yuva444p10le"
    assert choose_output(".mkv", "ffv1", 12, False, hd).pix_fmt == "gbrp12le"
    assert choose_output("", "png", 10, False, hd).depth == 16
    dropped = choose_output(".mp4", None, 8, True, hd)
    assert not dropped.alpha and "alpha channel was dropped" in dropped.notes[0]
    as_601 = choose_output(".mp4", None, 8, False, hd, colorspace="bt601")
    assert as_601.colour.matrix == "smpte170m"
    with pytest.raises(OutputError, match="cannot be written as .mp4"):
        choose_output(".mp4", "ffv1", 8, False, hd)


@pytest.mark.parametrize("codec, ext, pix", [("libx264", ".mp4", "yuv420p(tv, bt709"),
                                             ("libx265", ".mkv", "yuv420p10le(tv, bt709"),
                                             ("ffv1", ".mkv", "gbrp10le(pc, gbr/bt709/bt709"),
                                             ("prores", ".mov", "yuv422p10le(tv, bt709")])
def test_the_writer_tags_and_stores_the_depth(tmp_path, codec, ext, pix):
    hd = Colour("bt709", "bt709", "bt709", "tv")
    ramp = (np.linspace(0, 65535, 64)[None, :, None] * np.ones((48, 1, 3))).astype(np.uint16)
    fmt = choose_output(ext, codec, 10, False, hd)
    path = str(tmp_path / f"o{ext}")
    w = VideoWriter(path, 25, (48, 64), fmt, np.uint16)
    for _ in range(2):
        w.write(ramp)
    w.close()
    assert pix in video_line(path)
    back = decode_as_tagged(path, 16)[0]
    assert psnr(back, ramp, 65535) > 40


@pytest.mark.parametrize("codec, ext, lossless, alpha, size", [
    ("libx264", ".mp4", False, False, "48x34"),   # 4:2:0: both even
    ("prores", ".mov", False, False, "48x33"),    # 4:2:2: even width
    ("libx264", ".mkv", True, False, "47x33"),    # lossless 4:4:4: as it is
    ("libx265", ".mkv", True, False, "47x33"),
    ("prores", ".mov", False, True, "47x33"),     # ProRes 4444
    ("ffv1", ".mkv", False, False, "47x33")])     # RGB
def test_odd_sizes_are_padded_for_subsampled_chroma_only(tmp_path, codec, ext, lossless, alpha,
                                                         size):
    frame = np.full((33, 47, 4 if alpha else 3), 128, np.uint8)
    path = str(tmp_path / f"o{ext}")
    fmt = choose_output(ext, codec, 8, alpha, IMAGE_COLOUR, lossless=lossless)
    w = VideoWriter(path, 25, (33, 47), fmt)
    w.write(frame)
    w.close()
    assert size in video_line(path)


def test_image_sequences_are_written_at_the_formats_depth_with_alpha(tmp_path):
    import cv2
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 100, 255
    fmt = choose_output("", "png", 16, True, IMAGE_COLOUR)
    ImageSequenceWriter(str(tmp_path), fmt).write(rgba)
    back = cv2.imread(str(tmp_path / "0000000.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and back[0, 0].tolist() == [0, 0, 100 * 257, 65535]  # BGRA
    with pytest.raises(OutputError, match="cannot write"):
        ImageSequenceWriter(str(tmp_path / "missing"), fmt).write(rgba)
    assert not os.path.exists(tmp_path / "missing")


def _folder(path, frames) -> str:
    """PNGs written by OpenCV itself (RGB(A) frames given, BGR(A) stored)."""
    import cv2
    os.makedirs(path)
    for i, f in enumerate(frames):
        code = cv2.COLOR_RGBA2BGRA if f.shape[2] == 4 else cv2.COLOR_RGB2BGR
        cv2.imwrite(os.path.join(path, f"{i}.png"), cv2.cvtColor(f, code))
    return str(path)


def test_frames_of_another_depth_come_at_the_first_frames_depth(tmp_path):
    """An 8-bit then a 16-bit PNG: the second is rounded to 8 bits (before: passed as
    uint16, and the writer cast it modulo 256)."""
    deep = np.full((8, 8, 3), 250 * 257 + 100, np.uint16)  # 64350: 250.4 at 8 bits
    folder = _folder(tmp_path / "in", [np.full((8, 8, 3), 10, np.uint8), deep])
    with pytest.warns(UserWarning, match="16-bit converted to 8-bit"):
        frames = list(read_frames(open_source([folder])))
    assert [f.dtype for f in frames] == [np.uint8, np.uint8]
    assert frames[1][0, 0].tolist() == [250, 250, 250]


@pytest.mark.parametrize("first, second", [(3, 4), (4, 3)])
def test_frames_with_other_channels_come_with_the_first_frames_channels(tmp_path, first,
                                                                         second):
    """RGB then RGBA drops the alpha; RGBA then RGB gets an opaque one."""
    frames = [np.full((8, 8, c), 100, np.uint8) for c in (first, second)]
    with pytest.warns(UserWarning, match="alpha"):
        got = list(read_frames(open_source([_folder(tmp_path / "in", frames)])))
    assert [f.shape[2] for f in got] == [first, first]
    if first == 4:
        assert (got[1][..., 3] == 255).all() and (got[1][..., :3] == 100).all()


def test_the_writer_refuses_a_frame_of_another_type_or_channel_count(tmp_path):
    path = str(tmp_path / "o.mp4")
    w = VideoWriter(path, 25, (8, 8), choose_output(".mp4", "libx264", 8, False, IMAGE_COLOUR))
    try:
        with pytest.raises(OutputError, match="uint16"):
            w.write(np.zeros((8, 8, 3), np.uint16))
        with pytest.raises(OutputError, match="4 channels"):
            w.write(np.zeros((8, 8, 4), np.uint8))
    finally:
        w.abort()


def test_the_writer_takes_a_decimal_ntsc_rate_as_the_exact_one(tmp_path):
    """One rule from numbers to rates (utils.video_formats.to_rate): before, the writer's
    own rounding made 29.97 into 2997/100."""
    w = VideoWriter(str(tmp_path / "o.mp4"), 29.97, (8, 8))
    w.abort()
    assert w.fps == Fraction(30000, 1001)


def test_the_depth_of_images_is_the_first_frames(tmp_path):
    folder = _folder(tmp_path / "in", [np.full((8, 8, 3), 1000, np.uint16)] * 2)
    src = open_source([folder])
    first = next(read_frames(src))
    assert src.depth(first) == 16


def test_last_line_of_ffmpegs_words_or_an_exception():
    assert last_line("header\n\n  Invalid data found  \n") == "Invalid data found"
    assert last_line("") == "ffmpeg gave no reason"
    assert last_line(ValueError()) == "ValueError"
