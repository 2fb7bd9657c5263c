"""How a frame pair is executed: correlation mode, on-demand chunk size and decoder-tail bands.

These choices change memory and speed only, never the numbers (each implementation is exact
to float rounding).
The CPU plan is fixed (it was measured on a 2-core CPU; see docs/performance.md); on CUDA the
plan follows the free device memory, so a large GPU runs the dense volume and a whole-frame
tail (a few hundred kernels per pair) where a small one falls back to chunks and bands.

`plan_for` is a pure function of its arguments; `free_memory_bytes` is the only place that asks
the device, and it never touches CUDA for a CPU device.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

import torch

MiB = 2 ** 20
GiB = 2 ** 30
LOOKUPS = ("ondemand", "tiled")


@dataclass(frozen=True)
class ExecutionPlan:
    """dense_budget_bytes: corr_mode 'auto' uses the dense volume while `dense_volume_bytes`
    (both volumes, pyramids, transposed copy) stays within it. gather_chunk_bytes: scratch of
    one on-demand lookup chunk. band_pixels: pixels per row band of the full-resolution
    decoder tail (decoder 1 and the combine), in training and inference alike; None runs it
    on the whole frame at once. lookup: what 'auto' runs when the dense volume exceeds its
    budget: 'ondemand' (a gathered window and dot products per pixel: few, uniform kernels)
    or 'tiled' (batched matrix products per tile of pixels, with host-side choices: the
    fastest on a CPU). channels_last: convolutions on NHWC activations with NHWC copies of
    the weights (networks/blocks/layers.py), outside autograd only. pooled_features: the
    dense pyramid's coarser levels as products with pooled features (pooling is linear)
    rather than by pooling the volume as published, and the second direction as its own
    product rather than a transposed copy. Both change speed only, to float32 rounding.
    dense_float32: under fp16/bf16 autocast the dense volume's products stay in the low
    precision (float32 sums) and each level is converted to float32 once, as it is built,
    for float32 reads: the same values as the low-precision volume's, whose gathers are
    slower on a CPU. Its budget counts float32 bytes. The tiled lookup beyond the budget
    keeps the low precision throughout, on the CPU's bf16 units. keep_volume: with
    pooled_features, on the CPU, in inference mode and while the dense volume fits its
    budget, its full-resolution levels are written into buffers kept from one frame pair to
    the next (one set per process) rather than into new memory that every pair page-faults
    in."""
    dense_budget_bytes: int = 256 * MiB
    gather_chunk_bytes: int = 32 * MiB
    band_pixels: Optional[int] = 2 ** 18
    lookup: str = "ondemand"
    channels_last: bool = False
    pooled_features: bool = False
    dense_float32: bool = False
    keep_volume: bool = False

    def __post_init__(self) -> None:
        if self.band_pixels is not None and self.band_pixels < 1:
            raise ValueError(f"band_pixels must be positive or None, got {self.band_pixels}")
        if self.gather_chunk_bytes < 1:
            raise ValueError(f"gather_chunk_bytes must be positive, got {self.gather_chunk_bytes}")
        if self.lookup not in LOOKUPS:
            raise ValueError(f"lookup must be one of {LOOKUPS}, got {self.lookup!r}")


# The CPU figures (docs/performance.md): the dense volume up to about one 256x448 pair (where
# it and the tiled lookup take the same time; the volume's cost grows with (h*w)^2, the tiled
# lookup's with h*w), the tiled lookup beyond (5-6x faster than the per-pixel on-demand
# lookup at 1080p), 32 MiB of lookup scratch, 2**18-pixel tail bands, NHWC convolutions
# (oneDNN's fast layout) and the dense pyramid from pooled features.
CPU_PLAN = ExecutionPlan(dense_budget_bytes=64 * MiB, lookup="tiled", channels_last=True,
                         pooled_features=True, keep_volume=True)
# CPU under fp16/bf16 autocast: the same sizes for the dense volume, its bf16 products read
# in float32 (faster there than a low-precision volume's gathers); the tiled lookup beyond,
# its products on the CPU's bf16 units.
CPU_LOW_PRECISION_PLAN = replace(CPU_PLAN, dense_float32=True)
CPU_LOW_PRECISION_TRAINING_PLAN = replace(CPU_PLAN, dense_budget_bytes=0)
# CUDA whose free memory is unknown: the fixed figures, with the device-side lookup.
UNKNOWN_CUDA_PLAN = ExecutionPlan()

# Rough per-pixel activation footprints with a margin for allocator slack (float32 bytes;
# flows and warp grids stay float32 under autocast, so low precision is not counted smaller).
# Encoder: both frames' context pyramids and correlation features, per network pixel.
ENCODER_BYTES_PER_PIXEL = 1024
# The share of the free memory that the dense volume may take once the rest is set aside.
DENSE_SHARE = 0.5
# Largest on-demand chunk: beyond this the gather is bandwidth-bound and bigger gains nothing.
MAX_GATHER_CHUNK_BYTES = 1 * GiB


def tail_bytes_per_pixel(num_flows: int, first_channels: int) -> int:
    """Decoder 1 and the combine per full-resolution pixel: decoder 1's 8N-channel output and
    its flows/masks/residuals (8N), the candidates and comb_block's hidden layer (9N + 3),
    warp grids, and decoder 1's 3*c1-channel half-resolution convs (a quarter per pixel)."""
    channels = 8 * num_flows + 8 * num_flows + 9 * num_flows + 3 + 16 + (3 * first_channels * 2) // 4
    return 4 * 2 * channels  # float32, x2 for allocator slack and temporaries


def dense_volume_bytes(b: int, h: int, w: int, itemsize: int = 4) -> int:
    """Memory of both dense volumes with their pyramids and the transposed copy (itemsize:
    the volume's, which a plan with dense_float32 makes at least 4)."""
    return int(3 * b * (h * w) ** 2 * itemsize * 4 / 3)


def plan_for(device_type: str, free_bytes: Optional[int], size: Tuple[int, int], batch: int,
             itemsize: int, scale_factor: float = 1.0, num_flows: int = 3,
             first_channels: int = 20, training: bool = False) -> ExecutionPlan:
    """The plan for `batch` pairs of full-resolution `size` (H, W) frames on a device of this
    kind with `free_bytes` free; itemsize is the correlation dtype's (4 fp32, 2 fp16/bf16).

    CPU (and any device that is not CUDA): CPU_PLAN, or CPU_LOW_PRECISION_PLAN for a
    2-byte correlation dtype; in training, that plan `as_published`. CUDA with unknown free memory:
    UNKNOWN_CUDA_PLAN. CUDA keeps the per-pixel on-demand lookup beyond the dense budget:
    the tiled one decides its boxes on the host (a device sync per chunk).
    CUDA: the rest of the network (encoder, whole-frame tail; three times that in training,
    which keeps activations for backward) is set aside first. Inference gives the dense volume
    DENSE_SHARE of what is left; training needs room for the volume and its gradient, so the
    volume may take half of it too. The tail runs as one band when it fits in half of what
    the volume leaves, else in bands sized to that half. On-demand chunks get 1/16 of the free
    memory, between 32 MiB and MAX_GATHER_CHUNK_BYTES.
    """
    if device_type != "cuda":
        if training:
            # Training on a CPU under autocast keeps the tiled lookup at every size, as it
            # always has.
            return as_published(CPU_PLAN if itemsize >= 4 else CPU_LOW_PRECISION_TRAINING_PLAN)
        return CPU_PLAN if itemsize >= 4 else CPU_LOW_PRECISION_PLAN
    if free_bytes is None:
        return UNKNOWN_CUDA_PLAN
    h, w = size
    batch = max(1, batch)
    net_pixels = int(h * scale_factor) * int(w * scale_factor)
    encoder = batch * net_pixels * ENCODER_BYTES_PER_PIXEL
    per_pixel = tail_bytes_per_pixel(num_flows, first_channels)
    tail = batch * h * w * per_pixel
    rest = (3 if training else 1) * (encoder + tail)
    left = max(0, free_bytes - rest)
    dense_budget = int(left * DENSE_SHARE)
    net_h, net_w = int(h * scale_factor) // 8, int(w * scale_factor) // 8
    dense = dense_volume_bytes(batch, net_h, net_w, itemsize)
    after_corr = free_bytes - encoder - (dense if dense <= dense_budget else 0)
    band_share = max(0, after_corr) // 2
    if tail <= band_share:
        band_pixels = None
    else:
        # Never below the CPU band: smaller bands only add halo work and kernel launches.
        band_pixels = max(CPU_PLAN.band_pixels, band_share // (batch * per_pixel))
    chunk = min(MAX_GATHER_CHUNK_BYTES, max(CPU_PLAN.gather_chunk_bytes, free_bytes // 16))
    return ExecutionPlan(dense_budget, chunk, band_pixels)


def as_published(plan: ExecutionPlan) -> ExecutionPlan:
    """`plan` with the published code's execution: the volume pooled into its pyramid and
    NCHW layers, a low-precision volume in autocast's dtype. Training runs it (it computes
    what it always has, and autograd needs the real weights), and so does the speed tables'
    reference row."""
    return replace(plan, channels_last=False, pooled_features=False, dense_float32=False,
                   keep_volume=False)


def free_memory_bytes(device: torch.device) -> Optional[int]:
    """Bytes a new allocation can get on a CUDA device (the driver's free memory plus what
    PyTorch's caching allocator holds unused); None for every other device, without touching
    CUDA."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return int(free + max(0, cached))
