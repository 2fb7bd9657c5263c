"""Row tiles and bands: the memory savers must not change a single output beyond float noise."""
import pytest
import torch

from networks import build_model
from networks.blocks.ops import resize_rows, resize_to, row_bands, source_rows, warp
from networks.plan import ExecutionPlan


@pytest.mark.parametrize("variant,scale,size", [
    ("AMT-S", 1.0, (128, 160)),
    ("AMT-L", 1.0, (128, 160)),   # comb kernel 7 and 5 flows against AMT-S's 3 and 3
    ("AMT-S", 0.5, (256, 320)),
    ("AMT-S", 0.8, (160, 200)),   # the resize to full resolution does not land on whole rows
])
def test_banded_inference_equals_the_whole_frame_path(variant, scale, size):
    torch.manual_seed(0)
    model = build_model(variant)
    x0, x1 = torch.rand(1, 3, *size), torch.rand(1, 3, *size)
    with torch.no_grad():
        model.plan = ExecutionPlan(band_pixels=None)  # one band: the whole frame
        whole = model.eval()(x0, x1, 0.5, scale, fields=True)
        model.plan = ExecutionPlan(band_pixels=size[1] * 7)  # bands of 7 rows, halos 3..9
        banded = model.eval()(x0, x1, 0.5, scale, fields=True)
        # training mode runs the same tail (no norm or dropout differs)
        trained = model.train()(x0, x1, 0.5, scale)
    for out in (banded, trained):
        assert out["imgt_pred"].shape == whole["imgt_pred"].shape
        assert torch.allclose(whole["imgt_pred"], out["imgt_pred"], atol=1e-5)
        for key in ("flow0_pred", "flow1_pred"):  # the full-resolution flows, put together
            assert torch.allclose(whole[key][0], out[key][0], atol=1e-4)


def test_training_mode_returns_the_fields_and_inference_only_the_frame():
    model = build_model("AMT-S")
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert set(model.eval()(x, x, 0.5)) == {"imgt_pred"}
        assert set(model.train()(x, x, 0.5)) == {"imgt_pred", "flow0_pred", "flow1_pred", "ft_pred"}
        assert set(model.train()(x, x, 0.5, fields=False)) == {"imgt_pred"}


@pytest.mark.parametrize("in_h,out_h", [(64, 128), (128, 160), (40, 17)])
def test_rows_of_a_resize_from_a_band_of_its_input(in_h, out_h):
    x = torch.randn(1, 3, in_h, 9)
    full = resize_to(x, (out_h, 23))
    for lo, hi in [(0, 5), (3, out_h), (out_h - 1, out_h)]:
        a, b = source_rows(in_h, out_h, lo, hi)
        band, = resize_rows([x[..., a:b, :]], a, (out_h, 23), in_h, lo, hi)
        assert torch.allclose(band, full[..., lo:hi, :], atol=2e-5)  # float32 source positions


def test_row_bands_cover_every_row_once():
    bands = list(row_bands(50, 10, 3, 2 ** 18))  # 2**18 // 10 rows: one band
    assert bands == [(0, 50, 0, 50)]
    assert list(row_bands(5000, 1000, 3, None)) == [(0, 5000, 0, 5000)]
    bands = list(row_bands(10, 10, 3, 40))  # 4 rows of 10
    assert [(t, b) for t, b, _, _ in bands] == [(0, 4), (4, 8), (8, 10)]
    assert [(lo, hi) for _, _, lo, hi in bands] == [(0, 7), (1, 10), (5, 10)]


def test_warp_of_a_band_samples_the_whole_image():
    img = torch.rand(2, 3, 20, 12)
    flow = torch.randn(2, 2, 20, 12) * 5  # reaches well outside any band
    band = warp(img, flow[..., 6:11, :], top=6)
    assert torch.equal(band, warp(img, flow)[..., 6:11, :])
