"""Channels after the colour (alpha) move with the colour: warped by the final flows with the
colour's masks, while the colour itself is computed exactly as without them."""
import pytest
import torch

from networks import build_model
from networks.plan import ExecutionPlan
from tests.parity import parity_weights


@pytest.fixture(scope="module")
def model():
    m = build_model("AMT-S")
    m.load_state_dict(parity_weights("AMT-S"))
    return m.eval()


def _pair(size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 4, *size, generator=g) for _ in range(2)]


@pytest.mark.parametrize("scale,size", [(1.0, (128, 160)), (0.5, (256, 256))])
def test_colour_is_bit_identical_with_and_without_alpha(model, scale, size):
    x0, x1 = _pair(size)
    with torch.no_grad():
        rgba = model(x0, x1, 0.3, scale)["imgt_pred"]
        rgb = model(x0[:, :3], x1[:, :3], 0.3, scale)["imgt_pred"]
        trained = model.train()(x0, x1, 0.3, scale)
    model.eval()
    assert rgba.shape == (1, 4, *size)
    assert torch.equal(rgba[:, :3], rgb)
    assert 0 <= float(rgba[:, 3].min()) and float(rgba[:, 3].max()) <= 1
    assert trained["imgt_pred"].shape[1] == 4 and trained["flow0_pred"][0].shape[2] == 2


@pytest.mark.parametrize("scale,size", [(1.0, (128, 160)), (0.8, (160, 200))])
def test_banded_tail_gives_the_whole_frame_alpha(model, scale, size):
    x0, x1 = _pair(size, seed=1)
    with torch.no_grad():
        model.plan = ExecutionPlan(band_pixels=None)
        whole = model(x0, x1, 0.5, scale)["imgt_pred"]
        model.plan = ExecutionPlan(band_pixels=size[1] * 7)  # bands of 7 rows
        banded = model(x0, x1, 0.5, scale)["imgt_pred"]
    model.plan = None
    assert torch.allclose(whole, banded, atol=1e-5)
    assert torch.allclose(whole[:, 3], banded[:, 3], atol=1e-6)


def _square(size, left, top=40, side=32):
    a = torch.zeros(1, 1, *size)
    a[..., top:top + side, left:left + side] = 1
    return a


def test_alpha_is_warped_by_the_flows_with_the_masks_not_averaged(model, monkeypatch):
    size = (128, 128)
    n = model.num_flows

    def fields(feats, halves, ft, flow0, flow1, lo, hi, mask_value):
        b, rows = ft.shape[0], hi - lo
        f0 = torch.zeros(b, 2 * n, rows, size[1])
        f0[:, 0::2] = -4.0  # from t back to frame 0: 4 px left
        f1 = -f0            # from t on to frame 1: 4 px right
        mask = torch.full((b, n, rows, size[1]), mask_value)
        return f0, f1, mask, torch.zeros(b, 3 * n, rows, size[1])

    rgb = torch.rand(1, 3, *size)
    x0 = torch.cat([rgb, _square(size, 40)], 1)  # the square moves 8 px right
    x1 = torch.cat([rgb, _square(size, 48)], 1)
    middle = _square(size, 44)
    for mask_value in (0.5, 1.0, 0.0):
        monkeypatch.setattr(model, "_fields_band",
                            lambda *a, m=mask_value: fields(*a, mask_value=m))
        with torch.no_grad():
            alpha = model(x0, x1, 0.5)["imgt_pred"][:, 3:]
        assert torch.equal(alpha, middle), mask_value  # averaging would leave two half squares
    monkeypatch.setattr(model, "_fields_band", lambda *a: fields(*a, mask_value=0.25))
    x1 = torch.cat([rgb, _square(size, 48) * 0.0], 1)  # frame 1 transparent: weights show
    with torch.no_grad():
        alpha = model(x0, x1, 0.5)["imgt_pred"][:, 3:]
    assert torch.allclose(alpha, 0.25 * middle)
