"""The evaluation core, the predictor wrappers and the baselines, without files."""
import numpy as np
import pytest
import torch

from utils.evaluation.core import (EvaluationError, Protocol, Sample, centre_crop, evaluate,
                                   samples_from_batches)
from utils.evaluation.predictors import average_predictor, dis_predictor, flip_tta, still_copy
from tests.benchmarks.trees import clip_frame, texture
from utils.metrics import psnr


def clip(n, size=(32, 40), seed=0):
    tex = texture(*size, seed)
    return [clip_frame(tex, i) for i in range(n)]


def test_evaluate_scores_every_target_and_averages_over_frames():
    f = clip(9)
    samples = [Sample("a", f[0], f[2], [(0.5, f[1])]),
               Sample("b", f[0], f[8], [(k / 8, f[k]) for k in range(1, 8)])]
    result = evaluate(average_predictor, samples, Protocol(), progress=False)
    assert (result.samples, result.frames) == (2, 8)
    assert [s.t for s in result.per_frame] == [0.5] + [k / 8 for k in range(1, 8)]
    assert result.psnr > 60 and result.ssim > 0.9999  # the clip is linear in time
    wrong = [Sample("a", f[0], f[2], [(0.5, f[2])])]
    assert evaluate(average_predictor, wrong, Protocol(), progress=False).psnr < 50


def test_padding_reaches_the_predictor_and_is_cropped_back():
    seen = []

    def predictor(x0, x1, times):
        seen.append(tuple(x0.shape))
        return average_predictor(x0, x1, times)

    f = clip(3, size=(30, 45))
    result = evaluate(predictor, [Sample("a", f[0], f[2], [(0.5, f[1])])], Protocol(pad_divisor=20),
                      progress=False, worst=1)
    assert seen == [(1, 3, 40, 60)]
    assert result.worst[0].pred.shape == (30, 45, 3)
    assert result.psnr > 60  # replicate padding cropped off exactly


def test_crop_is_centred_and_applies_to_inputs_and_truth():
    x = torch.arange(10 * 12, dtype=torch.float32).view(1, 1, 10, 12)
    assert torch.equal(centre_crop(x, (4, 6)), x[..., 3:7, 3:9])
    with pytest.raises(EvaluationError, match="larger"):
        centre_crop(x, (11, 4))
    f = clip(3, size=(20, 24))
    result = evaluate(average_predictor, [Sample("a", f[0], f[2], [(0.5, f[1])])],
                      Protocol(crop=(8, 10)), progress=False, worst=1)
    assert np.array_equal(result.worst[0].truth, f[1][6:14, 7:17])
    assert np.array_equal(result.worst[0].inputs[0], f[0][6:14, 7:17])


def test_worst_keeps_the_lowest_psnr_frames_in_order():
    f = clip(5)
    samples = [Sample(str(k), f[0], f[2], [(0.5, f[k])]) for k in range(5)]
    result = evaluate(average_predictor, samples, Protocol(), progress=False, worst=2)
    by_psnr = sorted(result.per_frame, key=lambda s: s.psnr)
    assert [c.score.name for c in result.worst] == [s.name for s in by_psnr[:2]]
    assert result.worst[0].score.psnr <= result.worst[1].score.psnr


def test_uint8_metric_variant_scores_the_rounded_prediction():
    f = clip(3)
    samples = [Sample("a", f[0], f[2], [(0.5, f[1])])]

    def off_by_04(x0, x1, times):  # 0.4 grey levels off: rounds back to the truth
        return average_predictor(x0, x1, times) + 0.4 / 255

    flt = evaluate(off_by_04, samples, Protocol(metric="float"), progress=False)
    u8 = evaluate(off_by_04, samples, Protocol(metric="uint8"), progress=False)
    assert flt.psnr == pytest.approx(20 * np.log10(255 / 0.4), abs=1e-3)
    assert u8.psnr == 100.0  # exact: +inf, counted as 100 dB in means
    assert flt.ie == u8.ie == 0.0
    with pytest.raises(EvaluationError, match="metric"):
        Protocol(metric="rounded")


def test_a_predictor_of_the_wrong_shape_is_an_error():
    f = clip(3)
    with pytest.raises(EvaluationError, match="expected"):
        evaluate(lambda x0, x1, t: x0, [Sample("a", f[0], f[2], [(0.5, f[1])])], progress=False)


def test_frames_of_different_sizes_are_an_error():
    f, g = clip(3), clip(3, size=(16, 16))
    with pytest.raises(EvaluationError, match="sizes differ"):
        evaluate(average_predictor, [Sample("a", f[0], g[2], [(0.5, f[1])])], progress=False)


def test_batches_in_the_dataset_convention():
    x = torch.rand(3, 3, 16, 16)
    batch = {"img0": x, "img1": x, "imgt": x, "embt": torch.tensor([0.5, 0.25, 0.5]).view(3, 1, 1, 1),
             "name": ["a", "b", "c"]}
    samples = list(samples_from_batches([batch]))
    assert [(s.name, s.targets[0][0]) for s in samples] == [(["b"], 0.25), (["a", "c"], 0.5)]
    result = evaluate(average_predictor, samples, Protocol(pad_divisor=None), progress=False)
    assert result.samples == 3 and sorted(s.name for s in result.per_frame) == ["a", "b", "c"]


def test_flip_tta_averages_with_the_flipped_prediction():
    ramp = torch.linspace(0, 1, 8).view(1, 1, 8, 1).expand(2, 3, 8, 5)

    def biased(x0, x1, times):  # ignores its input: a fixed vertical ramp
        return torch.stack([ramp[: x0.shape[0]]] * len(times))

    out = flip_tta(biased)(torch.zeros(1, 3, 8, 5), torch.zeros(1, 3, 8, 5), [0.5])
    assert torch.allclose(out, torch.full_like(out, 0.5))  # (ramp + flipped ramp) / 2
    x0, x1 = torch.rand(2, 3, 8, 5), torch.rand(2, 3, 8, 5)
    assert torch.allclose(flip_tta(average_predictor)(x0, x1, [0.3]), average_predictor(x0, x1, [0.3]))


def test_still_copy_keeps_unchanged_pixels_of_any_predictor():
    x0 = torch.rand(1, 3, 8, 5)
    x1 = x0.clone()
    x1[..., :4, :] = 0.0  # the top half changes

    def grey(a, b, times):
        return torch.full((len(times), *a.shape), 0.5)

    out = still_copy(grey)(x0, x1, [0.3, 0.7])
    assert torch.equal(out[:, :, :, 4:], x0[:, :, 4:].expand(2, -1, -1, -1, -1))
    assert torch.equal(out[:, :, :, :4], torch.full_like(out[:, :, :, :4], 0.5))


def test_dis_follows_motion_that_averaging_blurs():
    tex = texture(64, 80, seed=3)
    frames = [torch.from_numpy(np.roll(tex, 3 * i, axis=1)).permute(2, 0, 1)[None].float() / 255
              for i in range(3)]
    crop = (slice(None), slice(None), slice(8, -8), slice(12, -12))  # away from the wrap-around
    dis = dis_predictor("medium")(frames[0], frames[2], [0.5])[0]
    avg = average_predictor(frames[0], frames[2], [0.5])[0]
    gain = psnr(dis[crop], frames[1][crop]) - psnr(avg[crop], frames[1][crop])
    assert gain.item() > 5
    assert dis.shape == frames[0].shape and dis.dtype == torch.float32
    with pytest.raises(EvaluationError, match="preset"):
        dis_predictor("slow")
