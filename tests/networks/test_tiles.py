"""Row tiles and bands: the memory savers must not change a single output beyond float noise."""
import pytest
import torch

import networks.blocks.ops as ops
from networks import build_model
from networks.blocks.ops import row_bands, rowwise, warp


@pytest.mark.parametrize("variant", ["AMT-S", "AMT-L"])  # comb kernels 3 and 7, 3 and 5 flows
def test_banded_inference_equals_the_whole_frame_path(monkeypatch, variant):
    torch.manual_seed(0)
    model = build_model(variant)
    x0, x1 = torch.rand(1, 3, 128, 160), torch.rand(1, 3, 128, 160)
    with torch.no_grad():
        # training mode takes the whole-frame decoder1 + combine (no norm or dropout differs)
        whole = model.train()(x0, x1, 0.5)["imgt_pred"]
        monkeypatch.setattr(ops, "TILE_PIXELS", 160 * 7)  # bands of 7 rows, halos 3..9
        banded = model.eval()(x0, x1, 0.5)["imgt_pred"]
        tiled_whole = model.train()(x0, x1, 0.5)["imgt_pred"]
    assert banded.shape == whole.shape
    assert torch.allclose(whole, banded, atol=1e-5)
    assert torch.allclose(whole, tiled_whole, atol=1e-5)


def test_row_bands_cover_every_row_once():
    bands = list(row_bands(50, 10, 3))  # 2**18 // 10 rows: one band
    assert bands == [(0, 50, 0, 50)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ops, "TILE_PIXELS", 40)  # 4 rows of 10
        bands = list(row_bands(10, 10, 3))
    assert [(t, b) for t, b, _, _ in bands] == [(0, 4), (4, 8), (8, 10)]
    assert [(lo, hi) for _, _, lo, hi in bands] == [(0, 7), (1, 10), (5, 10)]


def test_rowwise_upsampling_fn_is_exact(monkeypatch):
    conv = torch.nn.Sequential(torch.nn.Conv2d(4, 6, 3, 1, 1),
                               torch.nn.ConvTranspose2d(6, 2, 4, 2, 1))
    x = torch.randn(1, 4, 30, 8)
    with torch.no_grad():
        whole = conv(x)
        monkeypatch.setattr(ops, "TILE_PIXELS", 8 * 4)
        tiled = rowwise(conv, x, halo=3, out_scale=2)
    assert tiled.shape == (1, 2, 60, 16) and torch.allclose(whole, tiled, atol=1e-6)


def test_warp_of_a_band_samples_the_whole_image():
    img = torch.rand(2, 3, 20, 12)
    flow = torch.randn(2, 2, 20, 12) * 5  # reaches well outside any band
    band = warp(img, flow[..., 6:11, :], top=6)
    assert torch.equal(band, warp(img, flow)[..., 6:11, :])
