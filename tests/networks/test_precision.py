"""Autocast (bf16 / fp16) runs the convolutions in low precision but never the geometry:
coordinates, flows and warp grids stay float32, or frames wider than a few hundred pixels
are warped to the wrong place."""
import torch

from networks.amt import AMT
from networks.blocks.ops import warp


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
