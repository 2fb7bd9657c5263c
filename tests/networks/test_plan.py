"""Execution plans: device-aware choices as pure functions, and what the network does with them."""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from networks import build_model
from networks.blocks.corr import resolve_mode
from networks.plan import (CPU_LOW_PRECISION_PLAN, CPU_PLAN, UNKNOWN_CUDA_PLAN, GiB, MiB,
                           ExecutionPlan, as_published, free_memory_bytes, plan_for)

H200 = 139 * GiB


def _mode(plan, size, batch, itemsize=4, scale=1.0):
    h, w = (int(v * scale) // 8 for v in size)
    return resolve_mode("auto", batch, h, w, itemsize, plan)


@pytest.mark.parametrize("device,free,size,batch,itemsize,training,mode,whole_tail", [
    # CPU, whatever the memory says: the dense volume up to one 256x448 pair, the tiled lookup
    # beyond; 2**18-pixel bands
    ("cpu", None, (256, 448), 1, 4, False, "dense", False),
    ("cpu", None, (256, 448), 2, 4, False, "tiled", False),
    # bf16: the same sizes for the (float32) volume
    ("cpu", None, (256, 448), 1, 2, False, "dense", False),
    ("cpu", None, (128, 128), 1, 2, False, "dense", False),
    ("cpu", None, (288, 512), 1, 2, False, "tiled", False),
    ("cpu", None, (288, 512), 1, 4, False, "tiled", False),
    ("cpu", None, (1088, 1920), 1, 4, False, "tiled", False),
    ("cpu", 10 * H200, (720, 1280), 1, 4, False, "tiled", False),
    ("cpu", None, (224, 224), 28, 4, True, "tiled", False),
    # CUDA with unknown free memory: the old fixed figures (256 MiB volume, device-side lookup)
    ("cuda", None, (256, 448), 5, 4, False, "dense", False),
    ("cuda", None, (720, 1280), 1, 4, False, "ondemand", False),
    # a large GPU: dense and one band up to 1080p, at batch 8 of Vimeo-sized frames, and in
    # training at batch 28 of 224x224 crops
    ("cuda", H200, (720, 1280), 1, 4, False, "dense", True),
    ("cuda", H200, (1088, 1920), 1, 4, False, "dense", True),
    ("cuda", H200, (1088, 1920), 1, 2, False, "dense", True),
    ("cuda", H200, (256, 448), 8, 4, False, "dense", True),
    ("cuda", H200, (224, 224), 28, 4, True, "dense", True),
    ("cuda", 24 * GiB, (224, 224), 64, 4, True, "dense", True),
    # 4K: the volume (272 GB in fp32) does not fit, the tail does
    ("cuda", H200, (2160, 3840), 1, 4, False, "ondemand", True),
    # a small or busy GPU: on-demand, and bands sized from what is free
    ("cuda", 4 * GiB, (1088, 1920), 1, 4, False, "ondemand", False),
    ("cuda", 2 * GiB, (2160, 3840), 1, 2, False, "ondemand", False),
])
def test_plan_table(device, free, size, batch, itemsize, training, mode, whole_tail):
    plan = plan_for(device, free, size, batch, itemsize, training=training)
    if device == "cpu":
        inference = CPU_PLAN if itemsize == 4 else CPU_LOW_PRECISION_PLAN
        # training computes as published (and autograd needs the real weights)
        assert plan == (as_published(inference) if training else inference)
    elif free is None:
        assert plan == UNKNOWN_CUDA_PLAN
    else:
        assert plan.lookup == "ondemand"  # no host-side choices inside a CUDA frame
    assert _mode(plan, size, batch, itemsize) == mode
    assert (plan.band_pixels is None) == whole_tail
    # NHWC layers and the pooled-feature pyramid were measured on CPUs only
    assert plan.channels_last == plan.pooled_features == (device == "cpu" and not training)
    if plan.band_pixels is not None:
        assert plan.band_pixels >= CPU_PLAN.band_pixels  # never smaller bands than the CPU's
    assert CPU_PLAN.gather_chunk_bytes <= plan.gather_chunk_bytes <= GiB


def test_cpu_plan_figures():
    assert CPU_PLAN == ExecutionPlan(64 * MiB, 32 * MiB, 2 ** 18, "tiled", True, True,
                                     keep_volume=True)
    assert CPU_LOW_PRECISION_PLAN == ExecutionPlan(64 * MiB, 32 * MiB, 2 ** 18, "tiled", True, True,
                                                   dense_float32=True, keep_volume=True)
    assert as_published(CPU_PLAN) == ExecutionPlan(64 * MiB, 32 * MiB, 2 ** 18, "tiled")
    assert as_published(CPU_LOW_PRECISION_PLAN) == as_published(CPU_PLAN)
    # training under bf16 autocast on a CPU: the tiled lookup at every size, as published
    training = plan_for("cpu", None, (256, 448), 1, 2, training=True)
    assert training == ExecutionPlan(0, 32 * MiB, 2 ** 18, "tiled")
    assert _mode(training, (256, 448), 1, 2) == "tiled"
    assert UNKNOWN_CUDA_PLAN == ExecutionPlan(256 * MiB, 32 * MiB, 2 ** 18, "ondemand")
    with pytest.raises(ValueError, match="band_pixels"):
        ExecutionPlan(band_pixels=0)
    with pytest.raises(ValueError, match="lookup"):
        ExecutionPlan(lookup="dense")


def test_cuda_bands_shrink_with_free_memory():
    big = plan_for("cuda", 20 * GiB, (2160, 3840), 1, 4)
    small = plan_for("cuda", 16 * GiB, (2160, 3840), 1, 4)
    assert big.band_pixels > small.band_pixels
    assert (plan_for("cuda", 4 * GiB, (1088, 1920), 1, 4).gather_chunk_bytes
            > plan_for("cuda", 2 * GiB, (1088, 1920), 1, 4).gather_chunk_bytes)
    # a scale factor shrinks the volume, not the full-resolution tail
    assert _mode(plan_for("cuda", 40 * GiB, (2160, 3840), 1, 2, 0.5), (2160, 3840), 1, 2,
                 0.5) == "dense"
    assert _mode(plan_for("cuda", 40 * GiB, (2160, 3840), 1, 2), (2160, 3840), 1, 2) == "ondemand"


def test_free_memory_never_touches_cuda_for_a_cpu_device(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("CUDA was asked")
    for name in ("mem_get_info", "memory_reserved", "memory_allocated"):
        monkeypatch.setattr(torch.cuda, name, boom)
    assert free_memory_bytes(torch.device("cpu")) is None
    model = build_model("AMT-S").eval()
    x = torch.rand(1, 3, 128, 128)
    assert model.execution_plan(x) == CPU_PLAN
    with torch.no_grad():
        assert model(x, x, 0.5)["imgt_pred"].shape == x.shape


def test_free_memory_on_cuda_counts_the_allocator_cache(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (10 * GiB, 80 * GiB))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 3 * GiB)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 1 * GiB)
    assert free_memory_bytes(torch.device("cuda:0")) == 12 * GiB


class _Ops(TorchDispatchMode):
    """Counts aten calls and records those with a host (CPU) tensor among their arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.count, self.on_host = 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.count += 1
        if any(torch.is_tensor(a) and a.device.type == "cpu"
               for a in list(args) + list(kwargs.values())):
            self.on_host.append(str(func))
        return func(*args, **kwargs)


def _run_on_meta(model, size, scale, plan):
    """encode + decode of one pair on the meta device (shapes only, nothing computed)."""
    model.plan = plan
    x = torch.empty(1, 3, *size, device="meta")
    with torch.inference_mode(), _Ops() as ops:
        feats = model.encode(x, x, scale)
        out = model.decode(feats, torch.full((1, 1, 1, 1), 0.5, device="meta"))["imgt_pred"]
    assert out.shape == x.shape
    return ops


@pytest.mark.parametrize("scale,size,plan", [
    (1.0, (128, 128), ExecutionPlan(band_pixels=128 * 32)),
    (1.0, (128, 128), ExecutionPlan(dense_budget_bytes=0, gather_chunk_bytes=8 * MiB)),
    (0.5, (256, 256), ExecutionPlan(band_pixels=256 * 48)),
    (0.8, (160, 160), ExecutionPlan(band_pixels=160 * 40)),  # bands not on whole source rows
    (0.5, (256, 256), ExecutionPlan(band_pixels=None)),
])
def test_no_host_tensors_inside_a_frame(scale, size, plan):
    # Every tensor of a frame lives on the input's device: nothing is built on the host and
    # copied (a blocking copy per band on CUDA) and nothing is read back (.item() fails on meta).
    model = build_model("AMT-S").eval().to("meta")
    assert _run_on_meta(model, size, scale, plan).on_host == []


def test_a_large_gpu_runs_a_720p_pair_in_few_ops():
    # A small device's plan runs the on-demand lookup in chunks and the tail in bands; a GPU
    # with room runs the dense volume and the whole tail once: kernel launches, not math,
    # bound it there. (The CPU's tiled lookup reads its data on the host: not on meta.)
    model = build_model("AMT-S").eval().to("meta")
    size = (736, 1280)
    gpu = _run_on_meta(model, size, 1.0, plan_for("cuda", H200, size, 1, 4)).count
    cpu = _run_on_meta(model, size, 1.0, UNKNOWN_CUDA_PLAN).count
    assert gpu < 1200 and cpu > 5 * gpu


def test_comb_block_runs_once_per_band():
    model = build_model("AMT-S").eval()
    calls = []
    model.comb_block.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[-2]))
    model.decoder1.convblock.register_forward_hook(lambda m, i, o: calls.append(-1))
    model.plan = ExecutionPlan(band_pixels=160 * 24)  # 24-row bands: 6 of them for 128 rows
    x0, x1 = torch.rand(1, 3, 128, 160), torch.rand(1, 3, 128, 160)
    with torch.no_grad():
        model(x0, x1, 0.5)
    assert calls.count(-1) == 6
    assert len([c for c in calls if c > 0]) == 6  # not split again into sub-bands
