"""Conv2d, ConvTranspose2d and InstanceNorm2d that can run channels-last (NHWC) at inference.

oneDNN's CPU convolutions run NHWC activations about twice as fast as NCHW ones, but a
convolution keeps NHWC only when its weight is NHWC too, and the weights must stay as they
are for training, checkpoints and other devices. So inside `channels_last()`, and only
outside autograd, each layer runs with a channels-last copy of its weight, made once and
made again when the weight changes (an optimizer step, load_state_dict, .to()). The
numbers are those of NCHW to float32 rounding: the same products, summed in another order.
InstanceNorm2d keeps float32 NHWC tensors NHWC (PyTorch's kernel returns NCHW for them).

The switch is a context variable: threads (the web page's workers) and nested calls each see
their own setting, and a model shared between them is never modified.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_CHANNELS_LAST = contextvars.ContextVar("amt_channels_last", default=False)
_COPY = "_channels_last_parameters"  # instance attribute: (key, NHWC weight, bias, aliases)


@contextmanager
def channels_last(enabled: bool = True) -> Iterator[None]:
    """Run the layers below channels-last while this is open (no effect where autograd
    records: a copied weight would get no gradient)."""
    token = _CHANNELS_LAST.set(bool(enabled))
    try:
        yield
    finally:
        _CHANNELS_LAST.reset(token)


def _active() -> bool:
    return _CHANNELS_LAST.get() and not torch.is_grad_enabled()


def _nhwc_parameters(module: nn.Module) -> Optional[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """(weight, bias) for a channels-last call: the weight channels-last, both in autocast's
    dtype when autocast is on (the cast autocast would make at every call, made once); None
    for parameters made inside inference_mode (they have no version counter to follow)."""
    weight, bias = module.weight, module.bias
    params = [p for p in (weight, bias) if p is not None]
    if any(p.is_inference() for p in params):
        return None
    dtype = weight.dtype
    if weight.is_floating_point() and torch.is_autocast_enabled(weight.device.type):
        dtype = torch.get_autocast_dtype(weight.device.type)
    # A change through `p.data` bypasses the version counter: it is not seen here.
    key = tuple((id(p), p.data_ptr(), p._version) for p in params) + (weight.device, dtype)
    cached = module.__dict__.get(_COPY)
    if cached is None or cached[0] != key:
        # Normal tensors even when made inside inference_mode, so that later no_grad calls
        # may use them too. The entry keeps aliases of the parameters: their storage stays
        # alive, so a new tensor cannot reuse its address and match the key.
        with torch.inference_mode(False), torch.no_grad():
            w = weight.detach().to(dtype).contiguous(memory_format=torch.channels_last)
            b = None if bias is None else bias.detach().to(dtype)
            pinned = [p.detach() for p in params]
        cached = (key, w, b, pinned)
        module.__dict__[_COPY] = cached
    return cached[1], cached[2]


class _CachedCopies:
    """Leaves the channels-last copies out of deepcopy and pickling (they are remade)."""

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop(_COPY, None)
        return state


class Conv2d(_CachedCopies, nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = _nhwc_parameters(self) if _active() else None
        if params is None:
            return super().forward(x)
        return self._conv_forward(x, *params)


class ConvTranspose2d(_CachedCopies, nn.ConvTranspose2d):
    def forward(self, x: torch.Tensor, output_size: Optional[List[int]] = None) -> torch.Tensor:
        params = _nhwc_parameters(self) if _active() else None
        if params is None:
            return super().forward(x, output_size)
        output_padding = self._output_padding(x, output_size, self.stride, self.padding,
                                              self.kernel_size, 2, self.dilation)
        return F.conv_transpose2d(x, *params, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)


class InstanceNorm2d(nn.InstanceNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not _active() or self.affine or self.track_running_stats or x.dim() != 4
                or x.dtype != torch.float32 or x.is_contiguous()
                or not x.is_contiguous(memory_format=torch.channels_last)):
            return super().forward(x)
        # PyTorch's instance norm turns NHWC input into NCHW output (a slow copy each way
        # around the next convolution). Here: the (B, H*W, C) view of the NHWC memory, mean
        # and variance in two passes, as accurate as the NCHW kernel's.
        b, c, h, w = x.shape
        y = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        mean = y.mean(dim=1, keepdim=True)  # (B, 1, C)
        d = y - mean
        var = (d * d).mean(dim=1, keepdim=True)
        out = d.mul_(torch.rsqrt(var + self.eps))
        return out.reshape(b, h, w, c).permute(0, 3, 1, 2)  # NHWC memory again
