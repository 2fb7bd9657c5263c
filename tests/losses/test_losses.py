import glob
import os

import numpy as np
import pytest
import torch

from losses import (LOSSES, CharbonnierLoss, LogMSELoss, LossError, MultipleFlowLoss,
                    TernaryLoss, build_losses, compute_losses)
from tests.parity import PUBLISHED_LOSSES, frames, load_cases
from utils.config import load_config

LOSS_CASES = ("S_basic", "S_batch_embt", "L_basic", "G_basic")


@pytest.fixture(scope="module")
def cases():
    return load_cases()


def _merged(cases, c):
    return {
        "imgt_pred": torch.from_numpy(cases[f"{c}/imgt_pred"]),
        "imgt": frames(cases[f"{c}/imgt"]),
        "flow0_pred": [torch.from_numpy(cases[f"{c}/flow0_pred_{i}"]) for i in range(4)],
        "flow1_pred": [torch.from_numpy(cases[f"{c}/flow1_pred_{i}"]) for i in range(4)],
        "flow": torch.from_numpy(cases[f"{c}/flow_gt"]),
    }


@pytest.mark.parametrize("case", LOSS_CASES)
def test_losses_match_published_values(cases, case):
    m = _merged(cases, case)
    got = {
        "charbonnier": CharbonnierLoss(1.0, ["p", "g"])(m["imgt_pred"], m["imgt"]),
        "ternary": TernaryLoss(1.0, ["p", "g"])(m["imgt_pred"], m["imgt"]),
        "multiflow": MultipleFlowLoss(1.0, ["a", "b", "c"], beta=0.3)(
            m["flow0_pred"], m["flow1_pred"], m["flow"]),
    }
    for name, value in got.items():
        ref = float(cases[f"{case}/loss_{name}"])
        assert value.dtype == torch.float32 and value.dim() == 0
        assert float(value) == pytest.approx(ref, rel=1e-5), name


def test_published_config_builds_and_weights_the_total(cases):
    losses = build_losses(PUBLISHED_LOSSES)
    assert [n for n, _ in losses] == ["l_rec", "l_ter", "l_flo"]
    total, terms = compute_losses(losses, _merged(cases, "S_basic"))
    assert float(terms["l_flo"]) == pytest.approx(0.002 * float(cases["S_basic/loss_multiflow"]), rel=1e-5)
    assert float(total) == pytest.approx(sum(float(v) for v in terms.values()), rel=1e-6)


def test_identical_images_give_the_loss_floor():
    x = torch.rand(2, 3, 32, 40)
    assert float(CharbonnierLoss(1.0, ["p", "g"])(x, x.clone())) == pytest.approx(1e-3, rel=1e-5)
    assert float(TernaryLoss(1.0, ["p", "g"])(x, x.clone())) == 0.0


def test_log_mse_is_the_mean_per_sample_log_error_and_weighs_easy_samples_up():
    gt = torch.zeros(2, 3, 8, 8)
    pred = gt.clone()
    pred[0] += 0.1    # mse 1e-2
    pred[1] += 0.001  # mse 1e-6
    loss = LogMSELoss(2.0, ["p", "g"], eps=1e-5)
    expected = 2.0 * (np.log1p(1e-2 / 1e-5) + np.log1p(1e-6 / 1e-5)) / 2
    assert float(loss(pred, gt)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(gt, gt.clone())) == 0.0
    pred.requires_grad_(True)
    loss(pred, gt).backward()
    # per element the easy sample's gradient is far larger than the hard one's, unlike an L1
    assert pred.grad[1].abs().mean() > 5 * pred.grad[0].abs().mean()
    with pytest.raises(LossError, match="eps must be > 0"):
        LogMSELoss(1.0, ["p", "g"], eps=0)
    with pytest.raises(LossError, match="differ in shape"):
        loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))


def test_ternary_ignores_brightness_offset_and_the_border():
    x = torch.rand(1, 3, 32, 32)
    # census differences do not change under a constant offset
    assert float(TernaryLoss(1.0, ["p", "g"])(x + 0.2, x)) == pytest.approx(0.0, abs=1e-6)
    # a corner pixel's own distance is masked; only interior windows reaching it still count
    y = x.clone()
    y[..., 0, 0] += 0.5
    z = x.clone()
    z[..., 16, 16] += 0.5
    assert 0 < float(TernaryLoss(1.0, ["p", "g"])(y, x)) < float(TernaryLoss(1.0, ["p", "g"])(z, x))


def test_exact_flows_give_six_floor_terms():
    b, n, h, w = 1, 3, 32, 32
    gt = torch.tensor([1.5, -2.0, 0.5, 3.0]).view(1, 4, 1, 1).expand(b, 4, h, w).contiguous()
    f0 = [gt[:, None, 0:2].expand(b, n, 2, h, w)] + [gt[:, 0:2, : h >> l, : w >> l] / 2 ** l
                                                      for l in (1, 2, 3)]
    f1 = [gt[:, None, 2:4].expand(b, n, 2, h, w)] + [gt[:, 2:4, : h >> l, : w >> l] / 2 ** l
                                                      for l in (1, 2, 3)]
    # weight 1 -> eps = 1e-3 and each term is mean(sqrt(0 + 1e-6))
    value = MultipleFlowLoss(1.0, ["a", "b", "c"])(f0, f1, gt)
    assert float(value) == pytest.approx(6e-3, rel=1e-5)


def test_gradients_skip_truth_and_robust_weight(cases):
    m = _merged(cases, "S_basic")
    pred = m["imgt_pred"].clone().requires_grad_(True)
    gt = m["imgt"].clone().requires_grad_(True)
    TernaryLoss(1.0, ["p", "g"])(pred, gt).backward()
    assert gt.grad is None and pred.grad.abs().sum() > 0

    f0 = [f.clone().requires_grad_(True) for f in m["flow0_pred"]]
    MultipleFlowLoss(1.0, ["a", "b", "c"])(f0, m["flow1_pred"], m["flow"]).backward()
    assert f0[0].grad is None
    assert all(f.grad.abs().sum() > 0 for f in f0[1:])


def test_half_precision_inputs_give_float32_losses(cases):
    m = _merged(cases, "S_basic")
    value = CharbonnierLoss(1.0, ["p", "g"])(m["imgt_pred"].bfloat16(), m["imgt"].bfloat16())
    assert value.dtype == torch.float32


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(
    os.path.dirname(__file__), "..", "..", "cfgs", "*.yaml"))), ids=os.path.basename)
def test_every_shipped_config_builds_its_losses(path):
    entries = load_config(path)["losses"]
    losses = build_losses(entries)
    assert [n for n, _ in losses] == [e.get("nickname") or f"loss{i}" for i, e in enumerate(entries)]
    for entry, (_, loss) in zip(entries, losses):
        assert type(loss).__name__ == entry["name"].rsplit(".", 1)[-1]


def test_registry_resolves_published_and_bare_names():
    for name in ("losses.loss.TernaryLoss", "TernaryLoss", "some.other.path.TernaryLoss"):
        assert LOSSES.get(name) is TernaryLoss


@pytest.mark.parametrize("entries, message", [
    ([], "non-empty list"),
    ([{"nickname": "x"}], "needs a 'name'"),
    ([{"name": "NoSuchLoss", "params": {"keys": ["a", "b"]}}], "unknown loss"),
    ([{"name": "CharbonnierLoss", "params": {"keys": ["a"]}}], "reads 2 inputs"),
    ([{"name": "CharbonnierLoss", "params": {"loss_weight": "heavy", "keys": ["a", "b"]}}],
     "finite number"),
    ([{"name": "CharbonnierLoss", "params": {"keys": ["a", "b"], "gamma": 2}}], "bad params"),
    ([{"name": "CharbonnierLoss", "nickname": "l", "params": {"keys": ["a", "b"]}},
      {"name": "TernaryLoss", "nickname": "l", "params": {"keys": ["a", "b"]}}], "used twice"),
])
def test_bad_loss_configs_raise_one_clear_error(entries, message):
    with pytest.raises(LossError, match=message):
        build_losses(entries)


def test_missing_inputs_and_bad_shapes_raise(cases):
    losses = build_losses(PUBLISHED_LOSSES)
    m = _merged(cases, "S_basic")
    del m["flow"]
    with pytest.raises(LossError, match="reads \\['flow'\\]"):
        compute_losses(losses, m)
    with pytest.raises(LossError, match="differ in shape"):
        CharbonnierLoss(1.0, ["p", "g"])(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(LossError, match="\\(B, 4, H, W\\) flow"):
        MultipleFlowLoss(1.0, ["a", "b", "c"])([torch.zeros(1, 3, 2, 8, 8)] * 2, [torch.zeros(1, 3, 2, 8, 8)] * 2,
                                     torch.zeros(1, 2, 8, 8))
    assert np.isfinite(float(compute_losses(build_losses(PUBLISHED_LOSSES[:2]), m)[0]))
