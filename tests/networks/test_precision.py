"""Autocast (bf16 / fp16) runs the convolutions in low precision but never the geometry:
coordinates, flows and warp grids stay float32, or frames wider than a few hundred pixels
are warped to the wrong place."""
import math
import os

import cv2
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from networks.amt import AMT
from networks.blocks.corr import DenseCorr
from networks.blocks.ops import warp
from networks.plan import ExecutionPlan
from utils.inference import Interpolator, load_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_warp_under_bf16_autocast_matches_float32():
    torch.manual_seed(0)
    img = torch.rand(1, 3, 4, 1280)
    flow = torch.full((1, 2, 4, 1280), 0.3).to(torch.bfloat16)  # a conv output under autocast
    exact = warp(img, flow.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = warp(img, flow)
    # bfloat16 coordinates put x = 1000.3 at 1000 (and the grid 2.5 pixels off at worst).
    assert (low.float() - exact).abs().max() < 1e-5


def test_flows_are_float32_under_autocast():
    torch.manual_seed(0)
    model = AMT("AMT-S").train()
    img0, img1 = torch.rand(2, 1, 3, 128, 128)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(img0, img1, torch.full((1, 1, 1, 1), 0.5))
    assert all(f.dtype == torch.float32 for f in out["flow0_pred"] + out["flow1_pred"])
    assert out["imgt_pred"].dtype == torch.float32


class _Casts(TorchDispatchMode):
    """Records the input dtypes of the correlation reads (1-channel grid_sample inputs) and
    every dtype conversion as (shape, from, to), copies between float dtypes included.
    Under inference mode composite ops arrive undecomposed (grid_sampler, to.dtype);
    otherwise as grid_sampler_2d and _to_copy."""
    SAMPLERS = (torch.ops.aten.grid_sampler.default, torch.ops.aten.grid_sampler_2d.default)

    def __init__(self) -> None:
        super().__init__()
        self.corr_reads, self.copies = [], []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.SAMPLERS and args[0].shape[1] == 1:
            self.corr_reads.append(args[0].dtype)
        to = kwargs.get("dtype")
        if func is torch.ops.aten.to.dtype:
            to = args[1]
        if func in (torch.ops.aten.to.dtype, torch.ops.aten._to_copy.default) and to is not None:
            self.copies.append((tuple(args[0].shape), args[0].dtype, to))
        if (func is torch.ops.aten.copy_.default and args[0].dtype != args[1].dtype
                and args[0].is_floating_point() and args[1].is_floating_point()):
            self.copies.append((tuple(args[1].shape), args[1].dtype, args[0].dtype))
        return func(*args, **kwargs)


@pytest.mark.parametrize("dense_float32", [False, True])
def test_dense_lookups_read_the_volume_in_its_own_dtype(dense_float32):
    # Autocast lists grid_sample as float32 (on CUDA and CPU): left alone, every lookup would
    # copy the whole low-precision volume to float32. The CPU's low-precision plan
    # (dense_float32) converts each level to float32 once, as it is built; the others read
    # the volume in its own dtype and never cast it.
    from dataclasses import replace
    from networks.plan import CPU_LOW_PRECISION_PLAN
    model = AMT("AMT-S", corr_mode="dense").eval()
    model.plan = replace(CPU_LOW_PRECISION_PLAN, dense_float32=dense_float32)
    x0, x1 = torch.rand(2, 1, 3, 128, 128)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), _Casts() as rec:
        out = model(x0, x1, 0.5)["imgt_pred"]
    hw = (128 // 8) * (128 // 8)
    if dense_float32:
        assert rec.corr_reads and set(rec.corr_reads) == {torch.float32}
    else:
        assert torch.float32 not in rec.corr_reads  # no float32 read of a bf16 volume
    # volume levels cast, as (B hw, 1, h, w) or (B, hw, h w): none, or each level of both
    # pyramids once
    volumes = [(math.prod(shape), src, dst) for shape, src, dst in rec.copies
               if shape[:2] in ((hw, 1), (1, hw)) and len(shape) in (3, 4)]
    assert volumes == ([(hw * (16 >> l) ** 2, torch.bfloat16, torch.float32)
                        for l in range(model.levels)] * 2 if dense_float32 else [])
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("spread", [0.7, 40.0])  # 40 px sends many windows off the map
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_dense_reads_equal_float32_reads_of_the_same_volume(dtype, spread):
    f0, f1 = torch.randn(2, 2, 24, 16, 20)
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(20.0), indexing="ij")
    c0, c1 = (torch.stack([xs, ys]).expand(2, -1, -1, -1) + torch.randn(2, 2, 16, 20) * spread
              for _ in range(2))
    low = DenseCorr(f0, f1, 4, 3)
    low.pyramid0 = [p.to(dtype) for p in low.pyramid0]
    low.pyramid1 = [p.to(dtype) for p in low.pyramid1]
    ref = DenseCorr(f0, f1, 4, 3)
    ref.pyramid0 = [p.float() for p in low.pyramid0]  # the same rounded values, in float32
    ref.pyramid1 = [p.float() for p in low.pyramid1]
    out = low(c0, c1)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref(c0, c1), atol=1e-5)


def test_bands_cast_the_half_resolution_features_once():
    model = AMT("AMT-S").eval()
    model.plan = ExecutionPlan(band_pixels=128 * 16)  # 8 bands of 16 rows
    x0, x1 = torch.rand(2, 1, 3, 128, 128)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), _Casts() as rec:
        model(x0, x1, 0.5)
    c1 = (model.decoder1.convblock[0][0].in_channels - 4) // 3  # its input: 3 c1 + 4
    half = [c for c in rec.copies if c[0] == (1, 20, 64, 64) and c[1:] == (torch.bfloat16,
                                                                             torch.float32)]
    assert c1 == 20 and len(half) == 2  # f0 and f1, not 2 per band


def _bikes_pair(size):
    cap = cv2.VideoCapture(os.path.join(REPO, "demos", "samples", "bikes.mp4"))
    frames = []
    for _ in range(2):
        ok, bgr = cap.read()
        assert ok
        rgb = cv2.cvtColor(cv2.resize(bgr, size[::-1], interpolation=cv2.INTER_AREA),
                           cv2.COLOR_BGR2RGB)
        frames.append(torch.from_numpy(rgb).permute(2, 0, 1).float().div(255).unsqueeze(0))
    cap.release()
    return frames


@pytest.mark.parametrize("mode", ["dense", "ondemand", "tiled"])
def test_bf16_inference_stays_close_to_float32(mode):
    model = load_model(corr_mode=mode)  # the bundled checkpoint, on real footage
    x0, x1 = _bikes_pair((256, 448))
    exact = Interpolator(model).interpolate(x0, x1, 0.5)
    low = Interpolator(model, dtype=torch.bfloat16).interpolate(x0, x1, 0.5)
    mse = ((low - exact) ** 2).mean().item()
    assert 10 * math.log10(1 / mse) >= 45


class _Products(TorchDispatchMode):
    """The input dtypes of every matrix product (in AMT only the correlation lookups)."""
    PRODUCTS = (torch.ops.aten.mm.default, torch.ops.aten.bmm.default)

    def __init__(self) -> None:
        super().__init__()
        self.dtypes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.PRODUCTS:
            self.dtypes.append((args[0].dtype, args[1].dtype))
        return func(*args, **(kwargs or {}))


def test_tiled_lookups_multiply_in_bf16_and_blend_in_float32():
    # The lookup's products are where a CPU with bf16 units gains: they must not run in
    # float32 copies of the features; the bilinear blend (float32 weights) stays float32.
    model = AMT("AMT-S", corr_mode="tiled").eval()
    x0, x1 = torch.rand(2, 1, 3, 128, 192)
    seen = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), _Products() as rec:
        feats = model.encode(x0, x1)
        coord = feats.coord
        seen.append(feats.corr_fn(coord + 0.3, coord - 1.7))
    assert rec.dtypes and set(rec.dtypes) == {(torch.bfloat16, torch.bfloat16)}
    assert seen[0].dtype == torch.float32
