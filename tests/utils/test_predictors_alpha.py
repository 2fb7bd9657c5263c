"""The predictors take RGBA as they take RGB: (T, B, 4, H, W) out, the colour as in the
RGB call, the alpha averaged by the averaging baseline and moved by DIS's flow."""
import numpy as np
import torch

from networks import build_model
from tests.benchmarks.trees import texture
from utils.evaluation.predictors import (average_predictor, dis_predictor, flip_tta,
                                         interpolator_predictor, still_copy)
from utils.inference import Interpolator


def _moving(shift=3, n=3, size=(64, 80)):
    """Frames of a texture and a square alpha, both rolled `shift` px right per frame."""
    tex = texture(*size, seed=3).astype(np.float32) / 255
    alpha = np.zeros((*size, 1), np.float32)
    alpha[20:44, 24:48] = 1
    rgba = np.concatenate([tex, alpha], -1)
    return [torch.from_numpy(np.roll(rgba, shift * i, axis=1)).permute(2, 0, 1)[None]
            for i in range(n)]


def test_averaging_averages_alpha_like_colour():
    f = _moving()
    out = average_predictor(f[0], f[2], [0.25, 0.5])
    assert out.shape == (2, 1, 4, 64, 80)
    assert torch.allclose(out[0, :, 3], 0.75 * f[0][:, 3] + 0.25 * f[2][:, 3])


def test_dis_moves_the_alpha_with_the_flow_of_the_colour():
    f = _moving()
    dis = dis_predictor("medium")
    rgba = dis(f[0], f[2], [0.5])
    rgb = dis(f[0][:, :3], f[2][:, :3], [0.5])
    assert rgba.shape == (1, 1, 4, 64, 80)
    assert torch.equal(rgba[:, :, :3], rgb)
    crop = (slice(None), slice(8, -8), slice(12, -12))  # away from the roll's wrap-around
    moved = (rgba[0, 0, 3][crop[1:]] - f[1][0, 3][crop[1:]]).abs().mean()
    averaged = ((f[0][0, 3] + f[2][0, 3]) / 2 - f[1][0, 3])[crop[1:]].abs().mean()
    assert moved < averaged / 4


def test_the_model_predictor_and_its_wrappers_pass_four_channels_through():
    torch.manual_seed(0)
    ip = Interpolator(build_model("AMT-S").eval())
    f = _moving()
    x0, x1 = f[0][..., :48, :64], f[2][..., :48, :64]
    for predictor in (interpolator_predictor(ip), flip_tta(interpolator_predictor(ip)),
                      still_copy(interpolator_predictor(ip))):
        out = predictor(x0, x1, [0.5])
        assert out.shape == (1, 1, 4, 48, 64)
