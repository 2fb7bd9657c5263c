"""Several frame pairs per network call: the same frames, in the same order, as one pair per
call, whatever stops the run; bounded memory; an out-of-memory falls back to one pair."""
from fractions import Fraction

import numpy as np
import pytest
import torch

import demos.pipeline as pipeline
from demos.demo_2x import options as cli_options, parse_args
from demos.pipeline import DemoError, Frames, InterpolationOptions, RunSummary
from networks.plan import GiB
from tests.demos.test_pipeline import Blend, _decode, _frames, _video, run
from tests.demos.test_safety import AMT_S
from utils.pair_batching import pairs_per_call
from utils.video_io import VideoIOError

H200 = 139 * GiB


class Batched(Blend):
    """The blend (each pair's frames depend on that pair alone), recording each call's pairs;
    `fail(call number, batch size)` may raise instead."""

    def __init__(self, recursive=False, fail=None):
        self.recursive, self.fail, self.sizes = recursive, fail, []

    def interpolate(self, img0, img1, ts):
        self.sizes.append(img0.shape[0])
        if self.fail:
            self.fail(len(self.sizes), img0.shape[0])
        return super().interpolate(img0, img1, ts)


def _clip(n=12, dtype=np.uint8):
    """A pan with a duplicate frame at 4 and a scene cut before 7."""
    frames = _frames(n, 40, 48)
    frames[4] = frames[3].copy()
    frames[7:] = [255 - f for f in frames[7:]]
    return [f.astype(np.uint16) * 257 if dtype == np.uint16 else f for f in frames]


def _stream(frames, batch, ip=None, n_iter=1, source=None, cut=0.65):
    """(frames emitted, summary, the error that ended the stream or None)."""
    ip, out, summary = ip or Batched(), [], RunSummary("out.mp4")
    factor = 2 ** n_iter
    positions = pipeline.timeline(Fraction(1), Fraction(factor))
    error = None
    try:
        pipeline._interpolate_stream(frames[0], source or iter(frames[1:]), positions, ip=ip,
                                     emit=out.append, summary=summary, cut_threshold=cut,
                                     pairs_per_call=lambda times: batch)
    except BaseException as e:  # what the run's handlers would see
        error = e
    return out, summary, error


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and np.array_equal(x, y)


@pytest.mark.parametrize("n_iter,recursive,dtype", [
    (1, False, np.uint8), (2, False, np.uint8), (2, True, np.uint8), (1, False, np.uint16)])
def test_three_pairs_per_call_give_the_frames_of_one(n_iter, recursive, dtype):
    frames = _clip(dtype=dtype)
    one, s1, e1 = _stream(frames, 1, Batched(recursive), n_iter)
    ip = Batched(recursive)
    three, s3, e3 = _stream(frames, 3, ip, n_iter)
    assert e1 is None and e3 is None
    _same(one, three)
    assert len(three) == 11 * 2 ** n_iter + 1
    assert (s3.copies, s3.cuts) == (s1.copies, s1.cuts) == (1, 1)
    # pairs 0-2 | 3-4 a copy | 4-5, 5-6 | 6-7 a cut | 7-9 | 10, the last batch partial
    assert ip.sizes == [3, 2, 3, 1]


def test_the_whole_run_writes_the_same_video_with_any_batch(tmp_path, monkeypatch):
    ip = Batched()
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (ip, "blend"))
    video = _video(tmp_path / "in.mp4", _clip(), 10)
    runs = [run([video], str(tmp_path / f"b{b}.mkv"), codec="ffv1", pairs_per_call=b)
            for b in (1, 3)]
    assert [s.frames for s in runs] == [23, 23] and ip.sizes == [1] * 9 + [3, 2, 3, 1]
    _same(_decode(str(tmp_path / "b1.mkv"))[0], _decode(str(tmp_path / "b3.mkv"))[0])


def test_pairs_asking_other_times_are_not_batched_together():
    # 1 -> 2.5 fps: pairs ask 0, 0.4, 0.8 and 0.2, 0.6 in turn
    ip, out, summary = Batched(), [], RunSummary("o")
    frames = _frames(6, 40, 48)
    pipeline._interpolate_stream(frames[0], iter(frames[1:]),
                                 pipeline.timeline(Fraction(1), Fraction(5, 2)), ip=ip,
                                 emit=out.append, summary=summary, cut_threshold=None,
                                 pairs_per_call=lambda times: 4)
    assert ip.sizes == [1] * 5 and len(out) == 13


def test_a_pair_of_many_direct_times_goes_alone():
    # 64 times: four calls of at most 16 (TIMES_PER_CALL) for each pair, never batched
    ip = Batched()
    out, _, error = _stream(_frames(4, 40, 48), 3, ip, n_iter=6)
    assert error is None and len(out) == 3 * 64 + 1 and ip.sizes == [1] * 12


def test_a_batch_holds_b_plus_one_input_frames():
    frames, read, seen = _frames(10, 40, 48), [0], []

    def source():
        for f in frames[1:]:
            read[0] += 1
            yield f

    def fail(call, size):
        seen.append(read[0] + 1)  # frames read when the call starts, the first included
    _stream(frames, 3, Batched(fail=fail), source=source())
    assert seen == [4, 7, 10]  # B pairs: B + 1 frames, then the next batch starts


def test_each_frame_is_converted_once_in_batches(monkeypatch):
    made = {}
    real = pipeline.Uploads.tensor

    def counting(self, index, frame):
        t = real(self, index, frame)
        assert made.setdefault(index, t) is t  # never converted again
        return t
    monkeypatch.setattr(pipeline.Uploads, "tensor", counting)
    out, _, error = _stream(_frames(9, 40, 48), 3, Batched())
    assert error is None and sorted(made) == list(range(9)) and len(out) == 17


@pytest.mark.slow
def test_the_model_takes_a_batch_of_pairs_through_the_demo_path(tmp_path):
    # the real predictor chain (random AMT-S, the still-pixel copy) with 2 pairs at once: the
    # network's float results may move in the last bits with the batch, the frames by a level
    options = InterpolationOptions(["in.mp4"], str(tmp_path / "o.mp4"), keep_still=True,
                                   config=AMT_S)
    ip, _ = pipeline.load_interpolator(options)
    frames = _frames(3, 64, 80)
    one, two = _stream(frames, 1, ip)[0], _stream(frames, 2, ip)[0]
    assert len(one) == len(two) == 5
    diff = np.abs(np.stack(one).astype(int) - np.stack(two))
    assert diff.max() <= 1 and np.mean(diff == 0) > 0.999


# what stops a run keeps every frame finished before it -------------------------------------

def test_input_that_breaks_off_finishes_the_pairs_read_before_it():
    frames = _frames(8, 40, 48)

    def source():
        yield from frames[1:6]
        raise VideoIOError("frame6.png is corrupt")
    kept = {}
    for batch in (1, 3):
        out, _, error = _stream(frames, batch, source=source())
        assert isinstance(error, VideoIOError)
        kept[batch] = out
    _same(kept[1], kept[3])
    assert len(kept[3]) == 10  # pairs 0-1 ... 4-5: their start and middle each


def _raises(error, at_call):
    def fail(call, size):
        if call == at_call:
            raise error
    return fail


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("cuDNN failed")])
def test_a_batch_that_fails_keeps_the_batches_before_it(error):
    out, _, raised = _stream(_frames(10, 40, 48), 3, Batched(fail=_raises(error, 2)))
    assert raised is error
    _same(out, _stream(_frames(10, 40, 48), 1)[0][:6])  # the first batch: 3 pairs, 2 each


class NaNFrom(Batched):
    """Non-finite output for the pair that starts at input frame `index`."""

    def __init__(self, index):
        super().__init__()
        self.index = index

    def interpolate(self, img0, img1, ts):
        out = super().interpolate(img0, img1, ts)
        marks = (img0[:, 0, 0, 0] * 255).round().long().tolist()
        return torch.stack([torch.where(torch.tensor(m == self.index * 10), torch.nan, out[:, j])
                            for j, m in enumerate(marks)], dim=1)


def test_non_finite_output_of_one_pair_keeps_the_pairs_before_it():
    frames = [np.full((40, 48, 3), 10 * i, np.uint8) for i in range(10)]
    kept = {}
    for batch in (1, 3):
        out, _, error = _stream(frames, batch, NaNFrom(4), cut=None)
        assert isinstance(error, pipeline._Stop) and "non-finite" in str(error)
        kept[batch] = out
    _same(kept[1], kept[3])
    assert len(kept[3]) == 8  # pairs 0-1 ... 3-4; pair 4-5, the middle of a batch, not at all


def _oom_on_batches(call, size):
    if size > 1:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_in_a_batch_falls_back_to_one_pair_per_call():
    frames = _clip()
    ip = Batched(fail=_oom_on_batches)
    out, summary, error = _stream(frames, 3, ip)
    assert error is None
    _same(out, _stream(frames, 1)[0])
    assert ip.sizes == [3] + [1] * 9  # the failed batch again, then every pair alone
    assert summary.notes == ["out of memory with 3 frame pairs per call on cpu; one pair per "
                             "call from input frame 0 on"]


def test_out_of_memory_uploading_a_batch_falls_back_too(monkeypatch):
    real, failed = pipeline.Uploads.tensor, []

    def tensor(self, index, frame):
        if index == 2 and not failed:
            failed.append(index)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 MiB")
        return real(self, index, frame)
    monkeypatch.setattr(pipeline.Uploads, "tensor", tensor)
    frames, ip = _frames(6, 40, 48), Batched()
    out, summary, error = _stream(frames, 3, ip)
    assert error is None and failed == [2] and ip.sizes == [1] * 5
    _same(out, _stream(frames, 1)[0])
    assert len(summary.notes) == 1


def test_out_of_memory_in_a_batch_is_a_note_not_a_partial_run(tmp_path, monkeypatch):
    ip = Batched(fail=_oom_on_batches)
    monkeypatch.setattr(pipeline, "load_interpolator", lambda *a, **k: (ip, "blend"))
    video = _video(tmp_path / "in.mp4", _frames(6, 40, 48), 10)
    s = run([video], str(tmp_path / "o.mp4"), pairs_per_call=4)
    assert not s.partial and s.frames == 11 and ip.sizes == [4] + [1] * 5
    assert sum("out of memory" in note for note in s.notes) == 1


def test_out_of_memory_one_pair_at_a_time_still_stops_the_run():
    def fail(call, size):
        if size > 1 or call == 4:
            raise torch.OutOfMemoryError("CUDA out of memory")
    out, _, error = _stream(_frames(10, 40, 48), 3, Batched(fail=fail))
    assert isinstance(error, torch.OutOfMemoryError) and len(out) == 4  # pairs 0 and 1


# how many pairs per call -------------------------------------------------------------------

def _options(tmp_path, **kw):
    return InterpolationOptions([str(tmp_path / "in.mp4")], str(tmp_path / "o.mp4"), **kw)


def test_the_cpu_sends_one_pair_per_call(tmp_path):
    ip = Frames(None, False, "cpu", "AMT-S")
    assert pipeline._batch_size(_options(tmp_path), ip, (1080, 1920))(1) == 1
    assert pipeline._batch_size(_options(tmp_path, pairs_per_call=3), ip, (1080, 1920))(1) == 3


def test_cuda_sends_what_its_free_memory_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "free_memory_bytes", lambda device: H200)
    gpu = Frames(None, False, "cuda", "AMT-S")
    for dtype, itemsize in (("fp32", 4), ("fp16", 2)):
        sizes = pipeline._batch_size(_options(tmp_path, dtype=dtype, device="cpu"), gpu,
                                     (1080, 1920))
        assert sizes(1) == pairs_per_call("cuda", H200, (1080, 1920), itemsize, 1) > 1
        assert sizes(7) == pairs_per_call("cuda", H200, (1080, 1920), itemsize, 7)
    assert pipeline._batch_size(_options(tmp_path, baseline="average"),
                                Frames(None, False, "cuda"), (1080, 1920))(1) == 1


@pytest.mark.parametrize("value", [0, 9, 2.5, True, "3"])
def test_a_bad_pairs_per_call_is_refused(tmp_path, value):
    with pytest.raises(DemoError, match="--pairs-per-call must be a whole number from 1 to 8"):
        _options(tmp_path, pairs_per_call=value)


def test_the_command_line_option_reaches_the_run(tmp_path):
    args = ["-i", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "o.mp4"), "--device", "cpu"]
    assert cli_options(parse_args(args)).pairs_per_call is None
    assert cli_options(parse_args(args + ["--pairs-per-call", "4"])).pairs_per_call == 4
