"""The network reproduces the published implementation's numbers (tests/fixtures/cases.npz)."""
import numpy as np
import pytest
import torch

from networks import VARIANTS, build_model
from tests.parity import CASES, SALT, frames, key_list, load_cases, parity_weights


@pytest.fixture(scope="module")
def cases():
    return load_cases()


def _model(cases, case, mode):
    model = build_model(str(cases[f"{case}/model"]), corr_mode=mode)
    model.load_state_dict(parity_weights(model.variant, str(cases[f"{case}/salt"])), strict=True)
    return model


def _run(model, cases, case):
    img0, img1 = frames(cases[f"{case}/img0"]), frames(cases[f"{case}/img1"])
    embt = torch.from_numpy(cases[f"{case}/embt"]).reshape(-1, 1, 1, 1)
    scale = float(cases[f"{case}/scale_factor"])
    with torch.no_grad():
        return model(img0, img1, embt, scale)


def _close(out, ref, atol=None):
    ref = torch.from_numpy(np.asarray(ref))
    assert out.shape == ref.shape
    if atol is not None:
        err = (out - ref).abs().max().item()
        assert err <= atol, err
    else:
        err = ((out - ref).abs() / (1 + ref.abs())).max().item()
        assert err <= 1e-4, err


# sum and sum of absolute values of every weight that the formula gives each variant
CHECKSUMS = {
    "AMT-S": (325.5470664, 45375.94911),
    "AMT-L": (766.1148122, 139934.4353),
    "AMT-G": (1141.214901, 286161.0781),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_weight_formula_checksums(variant):
    total, abs_total = CHECKSUMS[variant]
    w = parity_weights(variant, SALT)
    assert sum(t.double().sum().item() for t in w.values()) == pytest.approx(total, abs=1e-6)
    assert sum(t.double().abs().sum().item() for t in w.values()) == pytest.approx(abs_total, rel=1e-9)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_state_dict_names_shapes_and_order(variant):
    sd = build_model(variant).state_dict()
    assert [(k, list(v.shape)) for k, v in sd.items()] == key_list(variant)


@pytest.mark.parametrize("mode", ["dense", "ondemand", "tiled"])
@pytest.mark.parametrize("case", CASES)
def test_inference_output_matches_reference(cases, case, mode):
    model = _model(cases, case, mode).eval()
    out = _run(model, cases, case)
    assert set(out) == {"imgt_pred"}
    _close(out["imgt_pred"], cases[f"{case}/imgt_pred"], atol=2e-5)


@pytest.mark.parametrize("mode", ["dense", "ondemand", "tiled"])
@pytest.mark.parametrize("case", [c for c in CASES if c != "S_scale_half"])
def test_training_outputs_match_reference(cases, case, mode):
    model = _model(cases, case, mode).train()
    out = _run(model, cases, case)
    _close(out["imgt_pred"], cases[f"{case}/imgt_pred"], atol=2e-5)
    for key in ("flow0_pred", "flow1_pred"):
        assert len(out[key]) == 4
        for i, flow in enumerate(out[key]):
            _close(flow, cases[f"{case}/{key}_{i}"])
    if f"{case}/ft_pred_0" in cases:
        for i, ft in enumerate(out["ft_pred"]):
            _close(ft, cases[f"{case}/ft_pred_{i}"])
