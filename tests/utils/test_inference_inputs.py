"""The inference API refuses input it would silently turn into garbage: one InputError line."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from utils.inference import InputError, Interpolator, to_tensor, to_uint8


class Blend(torch.nn.Module):
    """Stands in for AMT (encode/decode as the Interpolator calls them): these tests are about
    the checks before the network runs, and a real one takes seconds per call on a CPU."""
    arbitrary_time = True

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def execution_plan(self, x, s):
        return None

    def encode(self, x0, x1, s, plan=None):
        return SimpleNamespace(img0=x0, img1=x1)

    def decode(self, feats, embt):
        return {"imgt_pred": (1 - embt) * feats.img0 + embt * feats.img1}


@pytest.fixture(scope="module")
def ip():
    return Interpolator(Blend())


def _frames(**kw):
    return torch.rand(1, 3, 32, 32, **kw), torch.rand(1, 3, 32, 32, **kw)


def _one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message and message
    return message


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_pixel_is_refused(ip, value):
    x0, x1 = _frames()
    x1[0, 1, 5, 7] = value
    with pytest.raises(InputError, match="img1 .*non-finite") as err:
        ip.interpolate(x0, x1)
    _one_line(err)


@pytest.mark.parametrize("make, message", [
    (lambda: (torch.rand(1, 3, 32, 32) * 255).to(torch.uint8), "float"),
    (lambda: torch.rand(1, 3, 32, 32).double() > 0.5, "float"),
    (lambda: torch.rand(1, 3, 32, 32) * 255, r"\[0, 1\].*divide by 255"),
    (lambda: torch.rand(1, 3, 32, 32) - 0.5, r"\[0, 1\]"),
])
def test_wrong_dtypes_and_ranges_are_refused(ip, make, message):
    x0 = make()
    with pytest.raises(InputError, match=message) as err:
        ip.interpolate(x0, x0.clone())
    _one_line(err)


def test_a_rounding_error_outside_the_range_is_accepted(ip):
    x0, x1 = _frames()
    x0[0, 0, 0, 0], x1[0, 0, 0, 0] = 1.0 + 1e-4, -1e-4
    assert torch.isfinite(ip.interpolate(x0, x1)).all()
    half = ip.interpolate(*(x.half() for x in _frames()))
    assert half.dtype == torch.float32 and half.shape == (1, 3, 32, 32)


@pytest.mark.parametrize("t", ["0.5", b"0.5", ["0.5"], None, {0.5: 1}])
def test_times_that_are_not_numbers_are_refused(ip, t):
    with pytest.raises(InputError, match="t must be a number") as err:
        ip.interpolate(*_frames(), t=t)
    _one_line(err)


def test_tensor_and_numpy_times_are_numbers(ip):
    x0, x1 = _frames()
    plain = ip.interpolate(x0, x1, 0.5)
    for t in (torch.tensor(0.5), np.float32(0.5), np.array(0.5)):
        out = ip.interpolate(x0, x1, t)
        assert out.shape == (1, 3, 32, 32) and torch.allclose(out, plain), type(t)
    many = ip.interpolate(x0, x1, torch.tensor([0.25, 0.5]))
    assert many.shape == (2, 1, 3, 32, 32) and torch.allclose(many[1], plain)
    assert ip.effective_times(torch.tensor(0.5)) == [0.5]
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        ip.interpolate(x0, x1, torch.tensor(1.5))
    with pytest.raises(InputError, match="t must be"):
        ip.interpolate(x0, x1, torch.zeros(2, 2))


@pytest.mark.parametrize("bad", [torch.tensor(0.5), np.zeros((1, 3, 32, 32), np.float32), 0.5])
def test_frames_that_are_not_batched_tensors_are_refused(ip, bad):
    with pytest.raises(InputError, match=r"img0 must be a \(B, 3, H, W\)") as err:
        ip.interpolate(bad, torch.rand(1, 3, 32, 32))
    _one_line(err)


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf"), "1", None])
def test_bad_scale_factors_are_input_errors(ip, scale):
    if scale is not None:
        with pytest.raises(InputError, match="scale_factor") as err:
            ip.interpolate(*_frames(), scale_factor=scale)
        _one_line(err)
    with pytest.raises(InputError, match="scale_factor"):
        Interpolator(Blend(), scale_factor=scale)


@pytest.mark.parametrize("kw, message", [({"max_depth": 0}, "max_depth"),
                                         ({"max_depth": 2.5}, "max_depth"),
                                         ({"pad_divisor": -16}, "pad_divisor"),
                                         ({"pad_divisor": "16"}, "pad_divisor")])
def test_bad_constructor_arguments_are_input_errors(kw, message):
    with pytest.raises(InputError, match=message):
        Interpolator(Blend(), **kw)


def test_to_tensor_refuses_what_it_cannot_map_to_0_1():
    with pytest.raises(InputError, match=r"float images must be in \[0, 1\]; got max 255.*divide by 255"):
        to_tensor(np.full((4, 4, 3), 255.0))
    with pytest.raises(InputError, match="non-finite"):
        to_tensor(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(InputError, match="dtype"):
        to_tensor(np.zeros((4, 4, 3), np.int64))
    assert to_tensor(np.full((4, 4, 3), 0.5, np.float64)).max() == 0.5
    assert to_tensor(np.full((4, 4, 3), 65535, np.uint16)).max() == 1.0


def test_to_uint8_refuses_what_would_come_out_black():
    with pytest.raises(InputError, match="non-finite"):
        to_uint8(torch.full((3, 4, 4), float("nan")))
    with pytest.raises(InputError, match=r"\(3, H, W\)"):
        to_uint8(torch.rand(4, 4))
    assert to_uint8(torch.ones(1, 3, 4, 4)).max() == 255
