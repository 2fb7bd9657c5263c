"""The benchmarks' video source and the training video folders decode as the interpolation
tool does (utils.video_io), so a score on a BT.709 clip is of the pixels a user sees."""
import numpy as np

from datasets.video_folder import read_video, video_source
from tests.utils.video_clips import decode_as_tagged, make_clip


def test_video_source_and_training_frames_use_the_tools_reader(tmp_path):
    clip = make_clip(tmp_path / "hd.mp4", size="320x240", frames=3, tags="bt709")
    truth = decode_as_tagged(clip)
    sample = next(iter(video_source(clip, factor=2)))
    assert np.array_equal(sample.img0, truth[0]) and np.array_equal(sample.img1, truth[2])
    assert np.array_equal(sample.targets[0][1], truth[1])
    frames = read_video(clip)
    assert len(frames) == 3 and all(np.array_equal(f, t) for f, t in zip(frames, truth))


def test_a_deep_video_is_read_as_8_bit_frames_for_scoring(tmp_path):
    clip = make_clip(tmp_path / "g10.mkv", size="64x48", frames=3, pix_fmt="yuv420p10le",
                     codec=("libx265", "-x265-params", "log-level=error"))
    sample = next(iter(video_source(clip, factor=2)))
    assert sample.img0.dtype == np.uint8
    deep = decode_as_tagged(clip, 16)[0]
    assert np.abs(sample.img0.astype(float) - deep / 257).max() <= 0.5
