"""How many consecutive frame pairs the demo sends the network in one call.

One 1080p pair per call leaves a large GPU idle between calls; a batch of B pairs keeps it
busy. The CPU gains nothing from batching (its plan and measured figures are for one pair,
docs/performance.md), so it always gets one pair. On CUDA the batch is as large as fits a
share of the free memory, and never so large that networks.plan.plan_for has to leave the
batch-1 fast path (the dense volume, a whole-frame decoder tail) for chunks and bands: that
would cost more kernel launches than the batch saves.

`pairs_per_call` is a pure function of its arguments, like networks.plan.plan_for; the free
memory comes from networks.plan.free_memory_bytes.
"""
from __future__ import annotations

from typing import Optional, Tuple

from networks.blocks.corr import resolve_mode
from networks.plan import (ENCODER_BYTES_PER_PIXEL, dense_volume_bytes, plan_for,
                           tail_bytes_per_pixel)
from utils.inference import MAX_BATCH

# The Interpolator's own batch: a larger call would be split there anyway, and hold more
# frames here for nothing.
MAX_PAIRS_PER_CALL = MAX_BATCH
# The share of the free memory the batch may take: the allocator's fragmentation, cuDNN
# workspaces and the estimate's own error get the rest.
BATCH_SHARE = 0.5
# Float32 copies of an RGBA frame per pair besides the network's activations: the two
# inputs, their padded copies, and each output twice (the network's and the cropped one).
FRAME_COPIES_PER_PAIR = 4
OUTPUT_COPIES_PER_TIME = 2
FRAME_BYTES_PER_PIXEL = 4 * 4  # RGBA float32


def pair_bytes(size: Tuple[int, int], itemsize: int, times: int, scale_factor: float = 1.0,
               num_flows: int = 3, first_channels: int = 20, dense: bool = True) -> int:
    """Device memory one pair of a batch needs: the encoder's pyramids at network resolution,
    the whole-frame decoder tail, the dense correlation volume (when `dense`), and the
    float32 frames in and out (`times` outputs of the call). size: (H, W) of the frames."""
    h, w = size
    net_pixels = int(h * scale_factor) * int(w * scale_factor)
    volume = dense_volume_bytes(1, int(h * scale_factor) // 8, int(w * scale_factor) // 8,
                                itemsize) if dense else 0
    frames = (FRAME_COPIES_PER_PAIR + OUTPUT_COPIES_PER_TIME * times) * h * w \
        * FRAME_BYTES_PER_PIXEL
    return (net_pixels * ENCODER_BYTES_PER_PIXEL
            + h * w * tail_bytes_per_pixel(num_flows, first_channels) + volume + frames)


def pairs_per_call(device_type: str, free_bytes: Optional[int], size: Tuple[int, int],
                   itemsize: int, times: int = 1, scale_factor: float = 1.0,
                   num_flows: int = 3, first_channels: int = 20) -> int:
    """Pairs of (H, W) = `size` frames per network call, each asked `times` output times, on
    a device of this kind with `free_bytes` free; itemsize is the correlation dtype's (4
    fp32, 2 fp16/bf16), num_flows and first_channels the variant's (networks.amt.VARIANTS).

    1 on the CPU and every device that is not CUDA, and on CUDA when the free memory is
    unknown. Otherwise as many as fit BATCH_SHARE of the free memory at `pair_bytes` each
    (the dense volume counted when one pair's plan would use it; the on-demand lookup's
    scratch counted once otherwise), between 1 and MAX_PAIRS_PER_CALL.
    """
    if device_type != "cuda" or free_bytes is None:
        return 1
    single = plan_for(device_type, free_bytes, size, 1, itemsize, scale_factor, num_flows,
                      first_channels)
    net_h, net_w = (int(v * scale_factor) // 8 for v in size)
    dense = resolve_mode("auto", 1, net_h, net_w, itemsize, single) == "dense"
    scratch = 0 if dense else single.gather_chunk_bytes
    each = pair_bytes(size, itemsize, times, scale_factor, num_flows, first_channels, dense)
    fits = int((free_bytes * BATCH_SHARE - scratch) // each)
    return max(1, min(MAX_PAIRS_PER_CALL, fits))
