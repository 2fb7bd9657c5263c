"""Metric parity with the published implementation's values, and the metric variants."""
import os

import numpy as np
import pytest
import torch

from utils.metrics import (MetricError, finite_mean, interpolation_error, psnr, quantize, score,
                           ssim_matlab)

CASES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "cases.npz")
MODEL_CASES = ["S_basic", "S_batch_embt", "L_basic", "G_basic"]


@pytest.fixture(scope="module")
def cases():
    with np.load(CASES) as data:
        return {k: data[k] for k in data.files if k.startswith("metrics/") or k.split("/")[0]
                in MODEL_CASES}


def close(value, reference) -> bool:
    """Equal to the published float32 value within 1e-6 or two float32 steps of it: how the
    CPU threads split a float32 sum moves a PSNR near 17 dB by one step (1.9e-6)."""
    reference = float(np.asarray(reference).reshape(()))
    return abs(float(value) - reference) <= max(1e-6, 2 * float(np.spacing(np.float32(reference))))


def frames(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255


@pytest.mark.parametrize("case", MODEL_CASES)
def test_parity_on_network_outputs(cases, case):
    pred = torch.from_numpy(cases[f"{case}/imgt_pred"])[:1]
    ref = frames(cases[f"{case}/imgt"])[:1]
    assert close(psnr(pred, ref).item(), cases[f"{case}/psnr"])
    assert close(ssim_matlab(pred, ref).item(), cases[f"{case}/ssim"])


def test_parity_on_real_frames(cases):
    a, b, c = (frames(cases[f"metrics/bikes_{k}"]) for k in "abc")
    assert close(psnr(a, b).item(), cases["metrics/psnr_a_b"])
    assert close(ssim_matlab(a, b).item(), cases["metrics/ssim_a_b"])
    avg = (b + c) / 2
    assert close(psnr(avg, a).item(), cases["metrics/psnr_a_avgbc"])
    assert close(ssim_matlab(avg, a).item(), cases["metrics/ssim_a_avgbc"])


def test_batched_values_equal_single_values(cases):
    pred = torch.from_numpy(cases["S_batch_embt/imgt_pred"])
    ref = frames(cases["S_batch_embt/imgt"])
    batch_psnr, batch_ssim = psnr(pred, ref), ssim_matlab(pred, ref)
    assert batch_psnr.shape == batch_ssim.shape == (2,)
    for i in range(2):
        assert abs(batch_psnr[i] - psnr(pred[i:i + 1], ref[i:i + 1])[0]) <= 1e-6
        assert abs(batch_ssim[i] - ssim_matlab(pred[i:i + 1], ref[i:i + 1])[0]) <= 1e-6
    assert abs(batch_psnr[0] - batch_psnr[1]) > 0.1  # two different samples, not one repeated


def test_peak_255_scale_gives_the_same_values(cases):
    a, b = frames(cases["metrics/bikes_a"]), frames(cases["metrics/bikes_b"])
    assert abs(psnr(a * 255, b * 255).item() - psnr(a, b).item()) < 1e-4
    # float32 variances round differently on the two scales (about 2e-5 here)
    assert abs(ssim_matlab(a * 255, b * 255).item() - ssim_matlab(a, b).item()) < 1e-4


def test_identical_images():
    x = torch.rand(1, 3, 20, 24)
    assert torch.isinf(psnr(x, x)).all()
    assert abs(ssim_matlab(x, x).item() - 1) < 1e-5
    assert interpolation_error(quantize(x), quantize(x)).item() == 0


def test_psnr_of_a_known_error():
    ref = torch.full((1, 3, 8, 8), 0.5)
    assert abs(psnr(ref + 0.1, ref).item() - 20.0) < 1e-4  # mse 0.01 -> 20 dB


def test_uint8_variant_scores_the_rounded_prediction():
    ref = quantize(torch.rand(2, 3, 16, 16))
    pred = (ref + 0.3 / 255).clamp(0, 1)  # rounds back to ref
    float_scores, uint8_scores = score(pred, ref, "float"), score(pred, ref, "uint8")
    assert torch.isfinite(float_scores["psnr"]).all()
    assert torch.isinf(uint8_scores["psnr"]).all()
    assert (uint8_scores["ie"] == 0).all()


def test_interpolation_error_on_the_255_scale():
    ref = torch.zeros(1, 3, 4, 4)
    pred = torch.full((1, 3, 4, 4), 10.2 / 255)  # rounds to 10
    assert abs(interpolation_error(pred, ref).item() - 10.0) < 1e-4


def test_finite_mean_caps_infinite_psnr():
    assert finite_mean([float("inf"), 30.0]) == 65.0
    assert np.isnan(finite_mean([]))


@pytest.mark.parametrize("bad", [torch.rand(1, 3, 8, 9), torch.rand(3, 8, 8)])
def test_shape_mismatch_is_rejected(bad):
    with pytest.raises(MetricError):
        psnr(torch.rand(1, 3, 8, 8), bad)
    with pytest.raises(MetricError):
        ssim_matlab(torch.rand(1, 3, 8, 8), bad)


def test_unknown_variant_is_rejected():
    with pytest.raises(MetricError, match="variant"):
        score(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), "rounded")
