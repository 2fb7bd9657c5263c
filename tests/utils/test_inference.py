import gc

import numpy as np
import pytest
import torch

from networks import build_model
from tests.parity import frames, load_cases, parity_weights
from utils.inference import InputError, Interpolator, keep_still, load_model, to_tensor, to_uint8
from utils.padding import InputPadder


@pytest.fixture(scope="module")
def model():
    return load_model(variant="AMT-S")


def test_parity_through_the_api():
    cases = load_cases()
    model = build_model("AMT-S")
    model.load_state_dict(parity_weights("AMT-S"))
    ip = Interpolator(model, recursive=False)
    out = ip.interpolate(frames(cases["S_batch_embt/img0"]), frames(cases["S_batch_embt/img1"]),
                         [0.25, 0.75])
    ref = torch.from_numpy(cases["S_batch_embt/imgt_pred"])
    assert (out[0, 0] - ref[0]).abs().max() < 2e-5  # sample 0 was made at t = 0.25
    assert (out[1, 1] - ref[1]).abs().max() < 2e-5  # sample 1 at t = 0.75
    half = ip.interpolate(frames(cases["S_scale_half/img0"]), frames(cases["S_scale_half/img1"]),
                          0.5, scale_factor=0.5)
    assert (half - torch.from_numpy(cases["S_scale_half/imgt_pred"])).abs().max() < 2e-5


def test_padding_crops_back_and_matches_model(model):
    x0, x1 = torch.rand(1, 3, 120, 137), torch.rand(1, 3, 120, 137)
    out = Interpolator(model).interpolate(x0, x1, 0.5)
    assert out.shape == x0.shape
    padder = InputPadder((120, 137), 16, 128)
    assert padder.pad_lrtb == [3, 4, 4, 4]  # centred: the odd pixel goes right/bottom
    p0, p1 = padder.pad(x0, x1)
    with torch.no_grad():
        direct = padder.unpad(model(p0, p1, torch.full((1, 1, 1, 1), 0.5))["imgt_pred"])
    assert torch.allclose(out, direct, atol=1e-6)


def test_tiny_frames_give_finite_output(model):
    out = Interpolator(model).interpolate(torch.rand(1, 3, 20, 33), torch.rand(1, 3, 20, 33))
    assert out.shape == (1, 3, 20, 33) and torch.isfinite(out).all()


def test_dense_model_on_unpadded_small_input_is_what_the_api_avoids(model):
    # 96 px at network resolution: the coarsest dense level is one pixel wide (NaN in the
    # published code); the API pads to 128, so its output stays finite.
    m = build_model("AMT-S", corr_mode="dense").eval()
    with torch.no_grad():
        raw = m(torch.rand(1, 3, 96, 96), torch.rand(1, 3, 96, 96), 0.5)["imgt_pred"]
    assert torch.isnan(raw).any()
    out = Interpolator(m).interpolate(torch.rand(1, 3, 96, 96), torch.rand(1, 3, 96, 96))
    assert torch.isfinite(out).all()


def test_keep_still_copies_only_pixels_identical_in_both_inputs(model):
    x0 = torch.rand(2, 3, 64, 80)
    x1 = x0.clone()
    x1[:, :, 10:30, 20:50] = torch.rand(2, 3, 20, 30)  # a moving patch
    x1[0, 1, 40, 5] = (x1[0, 1, 40, 5] + 0.25) % 1  # one channel of one pixel changes: not still
    plain = Interpolator(model).interpolate(x0, x1, [0.25, 0.5])
    kept = Interpolator(model, keep_still=True).interpolate(x0, x1, [0.25, 0.5])
    still = (x0 == x1).all(1, keepdim=True).expand_as(x0)
    assert kept.shape == plain.shape == (2, *x0.shape)
    assert (plain[:, still] != x0[still]).any()  # the network alone does not copy them
    assert torch.equal(kept[:, still], x0[still].expand(2, -1))
    assert torch.equal(kept[:, ~still], plain[:, ~still])
    assert torch.equal(keep_still(plain[0], x0, x1), kept[0])


def test_batching_and_times(model):
    x0, x1 = torch.rand(3, 3, 128, 128), torch.rand(3, 3, 128, 128)
    times = [0.125, 0.5, 0.875]
    a = Interpolator(model, max_batch=8, recursive=False).interpolate(x0, x1, times)
    b = Interpolator(model, max_batch=1, recursive=False).interpolate(x0, x1, times)
    assert a.shape == (3, 3, 3, 128, 128)
    assert torch.allclose(a, b, atol=1e-5)
    single = Interpolator(model, recursive=False).interpolate(x0[1:2], x1[1:2], 0.875)
    assert torch.allclose(a[2, 1:2], single, atol=1e-5)


@pytest.mark.parametrize("t", [0.0, 1.0, -0.2, float("nan"), []])
def test_bad_times(model, t):
    with pytest.raises(InputError, match="t"):
        Interpolator(model).interpolate(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), t)


@pytest.mark.parametrize("a,b,msg", [
    ((1, 3, 32, 32), (1, 3, 32, 48), "sizes differ"),
    ((1, 1, 32, 32), (1, 1, 32, 32), "channels"),
    ((0, 3, 32, 32), (0, 3, 32, 32), "empty"),
    ((3, 32, 32), (3, 32, 32), "tensor"),
])
def test_bad_frames(model, a, b, msg):
    with pytest.raises(InputError, match=msg):
        Interpolator(model).interpolate(torch.rand(*a), torch.rand(*b))


def test_bad_scale_factor(model):
    with pytest.raises(InputError, match="scale_factor"):
        Interpolator(model, scale_factor=0.3).interpolate(torch.rand(1, 3, 32, 32),
                                                          torch.rand(1, 3, 32, 32))


def test_conversions_round_trip():
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = to_tensor(img)
    assert x.shape == (1, 3, 5, 7) and x.dtype == torch.float32
    assert np.array_equal(to_uint8(x), img)
    assert to_tensor(img.astype(np.uint16) * 257).sub(x).abs().max() < 1e-6
    with pytest.raises(InputError, match="RGB"):
        to_tensor(img[..., 0])
    with pytest.raises(InputError, match="empty"):
        to_tensor(np.zeros((0, 4, 3), np.uint8))


def test_fixed_time_models_halve_recursively(model):
    ip = Interpolator(model)  # load_model's default: a fixed-time (t = 0.5) model
    assert ip.recursive
    x0, x1 = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    out = ip.interpolate(x0, x1, [0.25, 0.5, 0.75])
    mid = ip.interpolate(x0, x1, 0.5)
    quarter = ip.interpolate(x0, mid, 0.5)
    assert torch.allclose(out[1], mid, atol=1e-6)
    assert torch.allclose(out[0], quarter, atol=1e-5)
    assert ip.effective_times([0.5, 0.375, 0.3]) == [0.5, 0.375, 19 / 64]
    assert ip.effective_times(0.001) == [1 / 64]


def test_arbitrary_time_models_decode_t_directly(model):
    ip = Interpolator(model, recursive=False)
    x0, x1 = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    assert ip.effective_times([0.3]) == [0.3]
    direct = ip.interpolate(x0, x1, np.float32(0.3))
    with torch.no_grad():
        ref = model(x0, x1, torch.full((1, 1, 1, 1), 0.3))["imgt_pred"]
    assert torch.allclose(direct, ref, atol=1e-5)


def test_calls_leave_no_reference_cycles_holding_frames(model):
    """Cycles are freed only by the collector's occasional full pass: frames caught in one
    made the demo's memory grow with the video's length."""
    ip = Interpolator(model)
    x0, x1 = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for times in (0.5, [0.25, 0.5, 0.75]):
            ip.interpolate(x0, x1, times)
        gc.collect()
        caught = [o for o in gc.garbage if isinstance(o, torch.Tensor)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert caught == []


def test_tf32_switch_sets_and_restores_every_flag():
    from utils.inference import set_tf32, tf32_mode
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    try:
        set_tf32(False)
        assert not torch.backends.cudnn.allow_tf32  # PyTorch's default for cuDNN is True
        with tf32_mode(True):
            assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
            assert torch.get_float32_matmul_precision() == "high"
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "highest"
        assert set_tf32(True) is False and set_tf32(False) is True
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def test_tf32_flags_are_left_alone_on_cpu(model, monkeypatch):
    seen = []
    decode = model.decode
    monkeypatch.setattr(model, "decode", lambda *a: seen.append(
        torch.backends.cudnn.allow_tf32) or decode(*a))
    before = torch.backends.cudnn.allow_tf32
    Interpolator(model, tf32=not before, recursive=False).interpolate(
        torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    assert seen == [before] and torch.backends.cudnn.allow_tf32 == before


def test_compile_compiles_what_the_interpolator_calls(model):
    graphs = []

    def counting_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward  # run the captured graph as it is: cheap on CPU

    torch._dynamo.reset()
    x0, x1 = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    eager = Interpolator(model, recursive=False).interpolate(x0, x1, [0.25, 0.5])
    ip = Interpolator(model, recursive=False, compile=True, compile_backend=counting_backend)
    out = ip.interpolate(x0, x1, [0.25, 0.5])
    assert ip.compiled and len(graphs) >= 2  # encode and decode were both captured
    ops = sum(1 for gm in graphs for n in gm.graph.nodes if n.op == "call_function")
    assert ops > 100  # the network's layers, not just glue
    assert torch.allclose(out, eager, atol=1e-5)
    torch._dynamo.reset()


def test_out_of_memory_helpers():
    from utils.inference import OUT_OF_MEMORY_HINT, is_out_of_memory, out_of_memory_message
    err = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a "
                                 "total capacity of 79.1 GiB\nof which 1 GiB is free.\nmore")
    assert is_out_of_memory(err) and is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch")) and not is_out_of_memory(OSError())
    msg = out_of_memory_message(err)
    assert "\n" not in msg and msg.startswith("out of memory (CUDA out of memory. Tried to "
                                              "allocate 20.00 GiB);")
    assert msg.endswith(OUT_OF_MEMORY_HINT)
    assert out_of_memory_message(err, "try --scale 0.5").endswith("; try --scale 0.5")


def test_a_compiled_interpolator_keeps_one_plan_per_frame_shape(model, monkeypatch):
    """Budgets that follow the free memory change from call to call on a GPU; handed to a
    compiled encode they would make dynamo compile it again."""
    from networks.plan import ExecutionPlan
    asked = []

    def moving_plan(img0, s):
        asked.append(tuple(img0.shape))
        return ExecutionPlan(dense_budget_bytes=2 ** 28 + len(asked))

    monkeypatch.setattr(model, "execution_plan", moving_plan)
    plans = []
    ip = Interpolator(model, recursive=False, compile=True)
    monkeypatch.setattr(ip, "_encode", lambda x0, x1, s, plan: plans.append(plan) or
                        model.encode(x0, x1, s, plan=plan))
    monkeypatch.setattr(ip, "_decode_fn", model.decode)
    for size in (128, 128, 160, 128):  # padded to at least 128: two shapes
        x = torch.rand(1, 3, size, size)
        ip.interpolate(x, x.flip(-1), 0.5)
    assert plans[0] is plans[1] is plans[3] and plans[2] is not plans[0]
    assert len(asked) == 2
    eager = Interpolator(model, recursive=False)
    x = torch.rand(1, 3, 64, 64)
    eager.interpolate(x, x, 0.5)
    eager.interpolate(x, x, 0.5)
    assert len(asked) == 4  # uncompiled, each call plans for the memory free now
