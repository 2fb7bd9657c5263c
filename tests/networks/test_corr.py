from dataclasses import replace

import pytest
import torch

from networks import build_model
from networks.blocks.corr import DenseCorr, OnDemandCorr, TiledCorr, build_corr
from networks.plan import CPU_PLAN, ExecutionPlan, as_published


def _coords(b, h, w, spread):
    ys, xs = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    grid = torch.stack([xs, ys]).expand(b, -1, -1, -1)
    return grid + torch.randn(b, 2, h, w) * spread


@pytest.mark.parametrize("spread", [0.7, 4.0, 40.0])  # 40 px sends many windows off the map
def test_on_demand_equals_dense(spread):
    f0, f1 = torch.randn(2, 24, 16, 20), torch.randn(2, 24, 16, 20)
    c0, c1 = _coords(2, 16, 20, spread), _coords(2, 16, 20, spread)
    dense = DenseCorr(f0, f1, 4, 3)(c0, c1)
    lazy = OnDemandCorr(f0, f1, 4, 3)(c0, c1)
    assert dense.shape == lazy.shape == (2, 2 * 4 * 49, 16, 20)
    assert torch.allclose(dense, lazy, atol=1e-5)


@pytest.mark.parametrize("b,d,h,w,levels,radius,spread", [
    (2, 24, 16, 20, 4, 3, 0.7),
    (2, 24, 16, 20, 4, 3, 40.0),   # many windows off the map, many outside their tile's box
    (1, 84, 32, 56, 4, 3, 2.0),    # AMT-S at 256x448
    (1, 8, 13, 27, 3, 2, 4.0),     # odd sizes: padded tiles
    (1, 16, 9, 11, 2, 4, 3.0),     # a larger radius than the tiles' boxes were sized for
    (3, 12, 40, 24, 4, 1, 6.0),
    (1, 20, 45, 80, 4, 3, 1.5),    # 360x640: every level of boxes and whole maps
])
@pytest.mark.parametrize("tile,slack,whole_factor", [(8, 4, 2.0), (4, 0, 0.0), (16, 2, 100.0)])
def test_tiled_equals_dense(b, d, h, w, levels, radius, spread, tile, slack, whole_factor):
    # whole_factor 0 reads every level through boxes, 100 every level whole; slack 0 sends
    # every query whose tile moves unevenly through the per-pixel fallback.
    g = torch.Generator().manual_seed(h * w + radius)
    f0, f1 = torch.randn(b, d, h, w, generator=g), torch.randn(b, d, h, w, generator=g)
    c0 = _coords(b, h, w, 0.0) + torch.randn(b, 2, h, w, generator=g) * spread
    c1 = _coords(b, h, w, 0.0) + torch.randn(b, 2, h, w, generator=g) * spread
    c0[:, :, :2] -= 3 * h  # whole rows of windows far above and left of the frame
    c1[..., -3:] += 2 * w
    dense = DenseCorr(f0, f1, levels, radius)(c0, c1)
    exact = DenseCorr(f0.double(), f1.double(), levels, radius)(c0.double(), c1.double())
    tiled = TiledCorr(f0, f1, levels, radius, tile=tile, slack=slack,
                      whole_factor=whole_factor)(c0, c1)
    assert tiled.shape == dense.shape == (b, 2 * levels * (2 * radius + 1) ** 2, h, w)
    assert tiled.dtype == torch.float32
    assert (tiled.double() - exact).abs().max().item() <= 2e-6
    # The float32 dense volume rounds more (it pools (h*w)^2 products level by level):
    # 2.6e-5 off the float64 values at 360x640, where the tiled lookup is 7e-7 off.
    assert (tiled - dense).abs().max().item() <= 2e-5 + (dense.double() - exact).abs().max().item()


def test_tiled_chunks_do_not_change_the_numbers():
    f0, f1 = torch.randn(2, 2, 16, 24, 40)
    c0, c1 = _coords(2, 24, 40, 3.0), _coords(2, 24, 40, 3.0)
    whole = TiledCorr(f0, f1, 4, 3, chunk_bytes=2 ** 30)(c0, c1)
    rows = TiledCorr(f0, f1, 4, 3, chunk_bytes=1)(c0, c1)  # one tile row per chunk
    assert torch.equal(whole, rows)


def test_window_channel_order_is_x_major():
    # A single bright target pixel one step right of the query shows up at x-offset +1,
    # y-offset 0, i.e. channel (1 + 3) * 7 + 3 of level 0.
    f0 = torch.zeros(1, 1, 16, 16)
    f1 = torch.zeros(1, 1, 16, 16)
    f0[0, 0, 8, 8] = 1.0
    f1[0, 0, 8, 9] = 1.0
    c = _coords(1, 16, 16, 0.0)
    for cls in (DenseCorr, OnDemandCorr, TiledCorr):
        out = cls(f0, f1, 4, 3)(c, c)[0, :49, 8, 8]
        assert out.argmax().item() == 4 * 7 + 3


def test_gradients_agree():
    f0 = torch.randn(1, 8, 16, 16, requires_grad=True)
    f1 = torch.randn(1, 8, 16, 16, requires_grad=True)
    c = _coords(1, 16, 16, 2.0)
    grads = []
    for cls in (DenseCorr, OnDemandCorr, TiledCorr):
        f0.grad = f1.grad = None
        (cls(f0, f1, 4, 3)(c, c) ** 2).sum().backward()
        grads.append((f0.grad.clone(), f1.grad.clone()))
    for other in grads[1:]:
        assert torch.allclose(grads[0][0], other[0], atol=1e-4)
        assert torch.allclose(grads[0][1], other[1], atol=1e-4)


def test_auto_choice_follows_volume_size():
    f = torch.randn(1, 8, 16, 16)
    assert isinstance(build_corr(f, f, 4, 3, "auto", ExecutionPlan()), DenseCorr)
    small = ExecutionPlan(dense_budget_bytes=1000)
    assert isinstance(build_corr(f, f, 4, 3, "auto", small), OnDemandCorr)
    assert isinstance(build_corr(f, f, 4, 3, "dense", small), DenseCorr)
    assert isinstance(build_corr(f, f, 4, 3, "auto", CPU_PLAN), DenseCorr)
    big = torch.randn(1, 8, 48, 80)  # 384x640 frames: past the CPU's dense budget
    assert isinstance(build_corr(big, big, 4, 3, "auto", CPU_PLAN), TiledCorr)
    assert isinstance(build_corr(f, f, 4, 3, "tiled", small), TiledCorr)
    with pytest.raises(ValueError, match="corr_mode"):
        build_corr(f, f, 4, 3, "sparse")


def test_training_outputs_with_scale_factor():
    # The published code crashes here (it reshapes with the scaled size).
    model = build_model("AMT-S").train()
    out = model(torch.rand(2, 3, 256, 256), torch.rand(2, 3, 256, 256),
                torch.full((2, 1, 1, 1), 0.5), scale_factor=0.5)
    assert out["imgt_pred"].shape == (2, 3, 256, 256)
    assert out["flow0_pred"][0].shape == (2, 3, 2, 256, 256)
    assert out["flow1_pred"][1].shape == (2, 2, 64, 64)  # level 2 at network resolution
    out["imgt_pred"].mean().backward()
    assert model.feat_encoder.conv1.weight.grad is not None


def test_variant_names_and_bad_settings():
    assert build_model({"name": "networks.AMT-G.Model", "params": {"num_flows": 5}}).variant == "AMT-G"
    assert build_model({"name": "AMT", "params": {"variant": "l"}}).variant == "AMT-L"
    with pytest.raises(ValueError, match="num_flows"):
        build_model("AMT-S", num_flows=5)
    with pytest.raises(ValueError, match="unknown AMT variant"):
        build_model("AMT-XL")
    with pytest.raises(ValueError, match="corr_mode"):
        build_model("AMT-S", corr_mode="fast")


def test_training_on_frames_too_small_for_the_pyramid_is_one_clear_error():
    from networks import build_model
    model = build_model("AMT-S").train()
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="at least 128x128"):
        model(x, x, torch.full((1, 1, 1, 1), 0.5))
    with torch.no_grad():  # inference at that size still runs, as published
        assert model(x, x, torch.full((1, 1, 1, 1), 0.5))["imgt_pred"].shape == (1, 3, 64, 64)


@pytest.mark.parametrize("capture", ["jit", "onnx", "compiler"])
def test_graph_capture_gets_the_lookup_without_host_decisions(monkeypatch, capture):
    # ONNX export, tracing and torch.compile would freeze the tiled lookup's data-dependent
    # choices (which pixels miss their box) into the graph.
    module = {"jit": torch.jit, "onnx": torch.onnx, "compiler": torch.compiler}[capture]
    name = {"jit": "is_tracing", "onnx": "is_in_onnx_export", "compiler": "is_compiling"}[capture]
    big = torch.randn(1, 8, 48, 80)
    monkeypatch.setattr(module, name, lambda: True)
    assert isinstance(build_corr(big, big, 4, 3, "auto", CPU_PLAN), OnDemandCorr)
    assert isinstance(build_corr(big, big, 4, 3, "tiled"), OnDemandCorr)


@pytest.mark.parametrize("b,d,h,w,levels", [(2, 24, 16, 20, 4), (1, 84, 32, 56, 4),
                                            (1, 8, 13, 27, 3)])  # odd sizes drop a row
def test_the_pooled_feature_pyramid_equals_the_pooled_volume(b, d, h, w, levels):
    g = torch.Generator().manual_seed(h * w)
    f0, f1 = torch.randn(b, d, h, w, generator=g), torch.randn(b, d, h, w, generator=g)
    c0, c1 = _coords(b, h, w, 3.0), _coords(b, h, w, 3.0)
    volume = DenseCorr(f0, f1, levels, 3)
    features = DenseCorr(f0, f1, levels, 3, pooled_features=True)
    exact = DenseCorr(f0.double(), f1.double(), levels, 3)
    for a, e in zip(features.pyramid0 + features.pyramid1, exact.pyramid0 + exact.pyramid1):
        assert a.shape == e.shape
        # float32 rounding of D-term dot products: the published volume is 2.3e-6 off at D=84
        assert (a.double() - e).abs().max() <= 4e-6
    assert (features(c0, c1) - volume(c0, c1)).abs().max() <= 2e-5
    # the plan says which one the network builds
    assert torch.equal(build_corr(f0, f1, levels, 3, "dense", CPU_PLAN).pyramid1[1],
                       features.pyramid1[1])
    assert torch.equal(build_corr(f0, f1, levels, 3, "dense", as_published(CPU_PLAN)).pyramid1[1],
                       volume.pyramid1[1])


def test_the_low_precision_plan_reads_a_bf16_product_volume_in_float32_under_autocast():
    # On the CPU a bf16 volume's gathers are slower than float32 reads, and float32
    # products slower than bf16 ones: the products run in bf16 (float32 sums) and each level
    # is read in float32. The tiled lookup beyond the volume's budget keeps bf16 throughout.
    from networks.plan import CPU_LOW_PRECISION_PLAN
    g = torch.Generator().manual_seed(0)
    f0, f1 = (torch.randn(1, 84, 32, 56, generator=g).bfloat16() for _ in range(2))
    c0, c1 = _coords(1, 32, 56, 3.0), _coords(1, 32, 56, 3.0)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        corr = build_corr(f0, f1, 4, 3, "auto", CPU_LOW_PRECISION_PLAN)
        out = corr(c0, c1)
        products = DenseCorr(f0, f1, 4, 3, pooled_features=True)
        big = torch.randn(1, 84, 48, 80).bfloat16()
        tiled = build_corr(big, big, 4, 3, "auto", CPU_LOW_PRECISION_PLAN)
    assert isinstance(corr, DenseCorr) and isinstance(tiled, TiledCorr)
    assert all(p.dtype == torch.float32 for p in corr.pyramid0 + corr.pyramid1)
    assert all(p.dtype == torch.bfloat16 for p in products.pyramid0 + products.pyramid1)
    for mine, bf16 in zip(corr.pyramid0 + corr.pyramid1, products.pyramid0 + products.pyramid1):
        assert torch.equal(mine, bf16.float())
    exact = DenseCorr(f0.double(), f1.double(), 4, 3)(c0.double(), c1.double())
    assert out.dtype == torch.float32
    assert (out.double() - exact).abs().max().item() <= 2 ** -8 * exact.abs().max().item()
    assert tiled.queries0.dtype == torch.bfloat16


def test_the_dense_lookup_samples_at_the_published_grid_bit_for_bit(monkeypatch):
    # The published sampler: x and y normalised apart, 2 * p / (size - 1) - 1, and stacked.
    f0, f1 = torch.randn(1, 8, 12, 20), torch.randn(1, 8, 12, 20)
    coords = _coords(1, 12, 20, 5.0) * 1.37
    grids = []
    sample = torch.nn.functional.grid_sample

    def spy(corr, grid, **kwargs):
        grids.append((corr.shape[-2:], grid.clone()))
        return sample(corr, grid, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "grid_sample", spy)
    DenseCorr(f0, f1, 3, 2)(coords, coords)
    centroid = coords.permute(0, 2, 3, 1).reshape(-1, 1, 1, 2)
    d = torch.arange(-2, 3, dtype=torch.float32)
    ox, oy = torch.meshgrid(d, d, indexing="ij")
    delta = torch.stack([ox, oy], dim=-1)
    assert len(grids) == 6
    for lvl, ((hl, wl), grid) in enumerate(grids[:3]):
        pts = centroid / 2 ** lvl + delta
        published = torch.stack([2 * pts[..., 0] / (wl - 1) - 1,
                                 2 * pts[..., 1] / (hl - 1) - 1], -1)
        assert torch.equal(grid, published)


def test_the_dense_lookup_passes_gradients_to_the_coordinates():
    f0, f1 = torch.randn(1, 8, 12, 16), torch.randn(1, 8, 12, 16)
    c0 = _coords(1, 12, 16, 2.0).double().requires_grad_()
    c1 = _coords(1, 12, 16, 2.0).double().requires_grad_()
    corr = DenseCorr(f0.double(), f1.double(), 3, 2)
    assert torch.autograd.gradcheck(lambda a, b: corr(a, b).sum(1), (c0, c1), atol=1e-6,
                                    fast_mode=True)


@pytest.fixture
def kept():
    """The kept volumes (an empty set for each test: tests/conftest.py)."""
    from networks.blocks import corr
    return corr._KEPT


def _pair(b=1, h=16, w=24, d=8, seed=0):  # every level at least 2 pixels a side
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, d, h, w, generator=g), torch.randn(b, d, h, w, generator=g),
            _coords(b, h, w, 3.0), _coords(b, h, w, 3.0))


def _address(corr):
    """Where a DenseCorr's first full-resolution level is. (Compared only with a kept buffer,
    alive throughout, so no other tensor can be there.)"""
    return corr.pyramid0[0].data_ptr()


def test_the_cpu_plan_keeps_the_volume_for_the_next_pair_and_never_shares_it(kept):
    f0, f1, c0, c1 = _pair()
    g0, g1, _, _ = _pair(seed=1)
    fresh = DenseCorr(f0, f1, 4, 3, pooled_features=True)(c0, c1)
    with torch.inference_mode():
        a = build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)
        first = kept.slots[("level 0", 0)][0]
        assert _address(a) == first.data_ptr()
        out_a = a(c0, c1)
        b = build_corr(g0, g1, 4, 3, "dense", CPU_PLAN)  # while a is alive: its own memory
        assert _address(b) != first.data_ptr()
        assert torch.equal(a(c0, c1), out_a)
        del a, b
        c = build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)  # a is gone: its buffer again
        assert kept.slots[("level 0", 0)][0] is first and _address(c) == first.data_ptr()
        assert torch.equal(c(c0, c1), fresh)
    assert sorted(kept.slots) == [("level 0", 0), ("level 0", 1)]  # one per pyramid


def test_a_kept_volume_follows_the_batch_and_frame_size(kept):
    for b, h, w in ((2, 16, 24), (2, 16, 24), (1, 16, 24), (3, 20, 28)):
        f0, f1, c0, c1 = _pair(b, h, w)
        with torch.inference_mode():
            corr = build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)
            fresh = DenseCorr(f0, f1, 4, 3, pooled_features=True)(c0, c1)
            assert torch.equal(corr(c0, c1), fresh)
            buffer = kept.slots[("level 0", 0)][0]
            assert buffer.shape == (b, h * w, h * w) and _address(corr) == buffer.data_ptr()
            del corr


def test_a_kept_volume_serves_another_thread_only_once_its_owner_is_gone(kept):
    import threading
    f0, f1, c0, c1 = _pair()
    fresh = DenseCorr(f0, f1, 4, 3, pooled_features=True)(c0, c1)
    seen = []

    def other_thread():
        with torch.inference_mode():
            corr = build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)
            seen.append((_address(corr), torch.equal(corr(c0, c1), fresh)))

    def run_other_thread():
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()

    with torch.inference_mode():
        mine = build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)
    first = kept.slots[("level 0", 0)][0]
    run_other_thread()  # while mine is alive: its own memory
    del mine
    run_other_thread()  # mine is gone: its buffer
    assert seen[0][0] != first.data_ptr() and seen[1][0] == first.data_ptr()
    assert seen[0][1] and seen[1][1]


def test_kept_volumes_only_in_inference_mode_on_the_cpu_within_the_budget(kept):
    f0, f1, _, _ = _pair()
    build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)  # grad enabled
    with torch.no_grad():  # a backward pass could still read what no_grad built
        build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)
    with torch.inference_mode():
        build_corr(f0, f1, 4, 3, "dense", replace(CPU_PLAN, dense_budget_bytes=1000))
        build_corr(f0, f1, 4, 3, "dense", as_published(CPU_PLAN))
        with torch.autocast("cpu", dtype=torch.bfloat16):  # float64 is not autocast's
            doubles = build_corr(f0.double(), f1.double(), 4, 3, "dense", CPU_PLAN)
        assert all(p.dtype == torch.float64 for p in doubles.pyramid0 + doubles.pyramid1)
        meta = build_corr(f0.to("meta"), f1.to("meta"), 4, 3, "dense", CPU_PLAN)
        assert meta.pyramid0[0].device.type == "meta"
        assert kept.slots == {}  # beyond the budget, the published plan, float64, not the CPU
        build_corr(f0, f1, 4, 3, "dense", CPU_PLAN)
    assert len(kept.slots) == 2


def test_bf16_reads_keep_the_float32_levels_and_lend_the_scratch_while_building(kept):
    from networks.plan import CPU_LOW_PRECISION_PLAN
    f0, f1, c0, c1 = _pair()
    b0, b1 = f0.bfloat16(), f1.bfloat16()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = DenseCorr(b0, b1, 4, 3, pooled_features=True, read_dtype=torch.float32)(c0, c1)
        buffers = []
        for _ in range(2):  # the same float32 levels and bf16 scratch both times
            corr = build_corr(b0, b1, 4, 3, "dense", CPU_LOW_PRECISION_PLAN)
            assert corr.pyramid0[0].dtype == torch.float32
            assert torch.equal(corr(c0, c1), ref)
            # the scratch is free again once the volume is built; the levels are not
            assert {k: owner() is None for k, (_, owner) in kept.slots.items()} == {
                ("level 0", 0): False, ("level 0", 1): False,
                ("scratch", 0): True, ("scratch", 1): True}
            buffers.append({k: t for k, (t, _) in kept.slots.items()})
            del corr
    assert all(buffers[0][k] is buffers[1][k] for k in buffers[0])
    assert {k: t.dtype for k, t in buffers[0].items()} == {
        ("level 0", 0): torch.float32, ("scratch", 0): torch.bfloat16,
        ("level 0", 1): torch.float32, ("scratch", 1): torch.bfloat16}
