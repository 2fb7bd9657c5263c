"""utils.runtimes: the backends behind the one Interpolator; missing runtimes; refusals."""
import sys

import pytest
import torch

from networks import build_model
from tests.parity import parity_weights
from utils.inference import InputError, Interpolator
from utils.runtimes import (BACKENDS, BackendError, GraphNetwork, cached_onnx, check_backend,
                            load_network)


@pytest.fixture(scope="module")
def model():
    m = build_model("AMT-S")
    m.load_state_dict(parity_weights("AMT-S"), strict=True)
    m.checkpoint = None
    return m.eval()


def torch_run(model):
    """A stand-in for a runtime session: the torch forward on numpy arrays, as a graph would
    be called (whole frames, at scale 1)."""
    def run(img0, img1, embt):
        with torch.no_grad():
            out = model(*(torch.from_numpy(x) for x in (img0, img1, embt)))["imgt_pred"]
        return out.numpy()
    return run


@pytest.mark.parametrize("recursive", [False, True])
def test_a_graph_network_goes_through_the_same_padding_halving_and_batching(model, recursive):
    g = torch.Generator().manual_seed(1)
    img0, img1 = torch.rand(2, 3, 100, 120, generator=g), torch.rand(2, 3, 100, 120, generator=g)
    times = [0.25, 0.5]
    ref = Interpolator(model, recursive=recursive, max_batch=1).interpolate(img0, img1, times)
    network = GraphNetwork(torch_run(model), "onnxruntime")
    out = Interpolator(model, recursive=recursive, max_batch=1,
                       network=network).interpolate(img0, img1, times)
    assert out.shape == ref.shape == (2, 2, 3, 100, 120)
    assert (out - ref).abs().max().item() <= 2e-5


def test_a_graph_network_refuses_alpha_and_a_scale_in_one_line(model):
    network = GraphNetwork(torch_run(model), "openvino")
    x = torch.rand(1, 4, 128, 128)
    with pytest.raises(BackendError, match="RGB frames only.*--backend torch") as e:
        network.encode(x, x)
    assert "\n" not in str(e.value)
    with pytest.raises(BackendError, match="scale 1 only"):
        network.encode(x[:, :3], x[:, :3], 0.5)
    with pytest.raises(InputError, match="compile"):
        Interpolator(model, network=network, compile=True)


@pytest.mark.parametrize("backend, module", [("onnxruntime", "onnxruntime"),
                                             ("openvino", "openvino")])
def test_a_missing_runtime_names_the_extra(model, monkeypatch, backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(BackendError) as e:
        load_network(backend, model)
    assert str(e.value) == (f"--backend {backend} needs the {module} package: "
                            f"pip install 'amt-vfi[{backend}]'")


@pytest.mark.parametrize("kwargs, words", [
    ({"backend": "tensorrt"}, "must be one of torch, onnxruntime, openvino"),
    ({"backend": "onnxruntime", "dtype": "bf16"}, "float32 only"),
    ({"backend": "openvino", "device": "cuda"}, "--device cpu"),
    ({"backend": "onnxruntime", "compile": True}, "--compile"),
])
def test_settings_a_backend_cannot_run_are_refused(kwargs, words):
    with pytest.raises(BackendError, match=words):
        check_backend(**kwargs)


def test_torch_is_the_model_itself(model):
    assert load_network("torch", model) is model
    assert BACKENDS == ("torch", "onnxruntime", "openvino")


def test_the_cache_is_keyed_by_the_weights(model, tmp_path, monkeypatch):
    exported = []
    monkeypatch.setattr("utils.runtimes.export_model",
                        lambda m, path, opset: exported.append(path) or open(path, "wb").close())
    first = cached_onnx(model, str(tmp_path))
    assert cached_onnx(model, str(tmp_path)) == first and len(exported) == 1
    other = build_model("AMT-S")  # other (random) weights: another file
    other.checkpoint = None
    assert cached_onnx(other, str(tmp_path)) != first and len(exported) == 2


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_each_backend_through_the_interpolator_matches_torch(onnx_export, monkeypatch, backend):
    model, path = onnx_export("AMT-S")
    monkeypatch.setenv("AMT_ONNX_CACHE", onnx_export.folder)  # the session's export, reused
    g = torch.Generator().manual_seed(2)
    img0, img1 = torch.rand(2, 3, 120, 150, generator=g), torch.rand(2, 3, 120, 150, generator=g)
    ref = Interpolator(model).interpolate(img0, img1, [0.25, 0.5, 0.75])
    network = load_network(backend, model)
    out = Interpolator(model, network=network).interpolate(img0, img1, [0.25, 0.5, 0.75])
    err = (out - ref).abs().max().item()
    print(f"{backend} through the Interpolator, 2x3x120x150, 3 times: max abs difference {err:.2e}")
    assert err <= 1e-4
