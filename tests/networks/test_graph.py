"""networks.graph: the exporter's forward gives the inference path's numbers."""
import pytest
import torch

from networks import build_model
from networks.blocks.corr import DenseCorr
from networks.graph import AMTGraph, SampledCorr
from tests.parity import parity_weights


def test_sampled_lookup_is_the_dense_lookup():
    f0, f1 = torch.randn(2, 84, 16, 20), torch.randn(2, 84, 16, 20)
    # points inside, near the edges and outside the map, at every level
    c0, c1 = torch.rand(2, 2, 16, 20) * 40 - 10, torch.rand(2, 2, 16, 20) * 40 - 10
    dense = DenseCorr(f0, f1, 4, 3)(c0, c1)
    sampled = SampledCorr(f0, f1, 4, 3)(c0, c1)
    assert sampled.shape == dense.shape == (2, 2 * 4 * 49, 16, 20)
    assert (sampled - dense).abs().max().item() <= 1e-5


@pytest.mark.parametrize("variant", ["AMT-S", "AMT-L", "AMT-G"])
def test_the_graph_forward_is_the_model_forward(variant):
    model = build_model(variant)
    model.load_state_dict(parity_weights(variant), strict=True)
    img0, img1 = torch.rand(2, 3, 128, 160), torch.rand(2, 3, 128, 160)
    embt = torch.tensor([0.25, 0.5]).reshape(2, 1, 1, 1)
    with torch.no_grad():
        ref = model.eval()(img0, img1, embt)["imgt_pred"]
        out = AMTGraph(model).eval()(img0, img1, embt)
    assert (out - ref).abs().max().item() <= 2e-5
