"""Pairs per network call: a pure function of the device, its free memory and the frames."""
import itertools

import pytest

from networks.blocks.corr import resolve_mode
from networks.plan import GiB, plan_for
from utils.pair_batching import MAX_PAIRS_PER_CALL, pair_bytes, pairs_per_call

H200 = 139 * GiB
HD, FULL_HD, UHD, VIMEO = (720, 1280), (1080, 1920), (2160, 3840), (256, 448)


@pytest.mark.parametrize("device,free,size,itemsize,times,pairs", [
    # the CPU, whatever the memory says: one pair per call, as before batching
    ("cpu", None, FULL_HD, 4, 1, 1),
    ("cpu", 10 * H200, VIMEO, 4, 1, 1),
    ("cpu", None, VIMEO, 2, 7, 1),
    ("mps", 64 * GiB, VIMEO, 4, 1, 1),
    # CUDA whose free memory is unknown: nothing to size a batch by
    ("cuda", None, VIMEO, 4, 1, 1),
    # a large GPU: a few 1080p pairs (the dense volume, 17 GB a pair in fp32, bounds it),
    # more in fp16, the cap for 720p and Vimeo-sized frames; 4K runs on-demand, no volume
    ("cuda", H200, FULL_HD, 4, 1, 3),
    ("cuda", H200, FULL_HD, 2, 1, 5),
    ("cuda", H200, HD, 4, 1, MAX_PAIRS_PER_CALL),
    ("cuda", H200, VIMEO, 4, 7, MAX_PAIRS_PER_CALL),
    ("cuda", H200, UHD, 4, 1, 4),
    ("cuda", H200, UHD, 4, 7, 3),  # the outputs held per pair count too
    ("cuda", 80 * GiB, FULL_HD, 4, 1, 2),
    # a small or busy GPU: one pair, never zero
    ("cuda", 8 * GiB, FULL_HD, 4, 1, 1),
    ("cuda", 4 * GiB, UHD, 2, 1, 1),
    ("cuda", 0, VIMEO, 4, 1, 1),
    ("cuda", 4 * GiB, VIMEO, 4, 1, 7),
])
def test_pairs_per_call_table(device, free, size, itemsize, times, pairs):
    assert pairs_per_call(device, free, size, itemsize, times) == pairs


@pytest.mark.parametrize("free,size,itemsize,times", list(itertools.product(
    (2 * GiB, 8 * GiB, 24 * GiB, 80 * GiB, H200), (VIMEO, HD, FULL_HD, UHD), (4, 2), (1, 7))))
def test_a_batch_keeps_the_plan_of_one_pair(free, size, itemsize, times):
    # Batching pays only while the network runs each pair as it would alone: the dense
    # volume stays dense, a whole-frame tail stays whole.
    b = pairs_per_call("cuda", free, size, itemsize, times)
    one, many = plan_for("cuda", free, size, 1, itemsize), plan_for("cuda", free, size, b, itemsize)
    h, w = (v // 8 for v in size)
    mode = resolve_mode("auto", 1, h, w, itemsize, one)
    assert resolve_mode("auto", b, h, w, itemsize, many) == mode
    assert (many.band_pixels is None) == (one.band_pixels is None)
    assert b == 1 or b * pair_bytes(size, itemsize, times, dense=mode == "dense") <= free / 2


def test_a_lower_network_scale_lets_more_pairs_fit():
    assert (pairs_per_call("cuda", H200, FULL_HD, 4, scale_factor=0.5)
            > pairs_per_call("cuda", H200, FULL_HD, 4))
    assert pair_bytes(UHD, 4, 1, 0.5) < pair_bytes(UHD, 4, 1)
    # a bigger variant's tail (more flows, wider first level) needs more per pair
    assert pair_bytes(FULL_HD, 4, 1, num_flows=5, first_channels=48) > pair_bytes(FULL_HD, 4, 1)
