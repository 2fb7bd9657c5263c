"""Conv2d, ConvTranspose2d and PReLU that can run channels-last (NHWC) at inference.

oneDNN's CPU convolutions run NHWC activations about twice as fast as NCHW ones, but a
convolution keeps NHWC only when its weight is NHWC too, and the weights must stay as they
are for training, checkpoints and other devices. So inside `channels_last()`, and only
outside autograd, each layer runs with a channels-last copy of its weight, made once and
made again when the weight changes (an optimizer step, load_state_dict, .to()). The
numbers are those of NCHW to float32 rounding: the same products, summed in another order.

The switch is a context variable: threads (the web page's workers) and nested calls each see
their own setting, and a model shared between them is never modified.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

_CHANNELS_LAST = contextvars.ContextVar("amt_channels_last", default=False)
_COPY = "_channels_last_weight"  # instance attribute: (key of the weight, its NHWC copy)


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


def _nhwc_weight(module: nn.Module) -> torch.Tensor:
    weight = module.weight
    key = (id(weight), weight.data_ptr(), weight._version, weight.device, weight.dtype)
    cached = module.__dict__.get(_COPY)
    if cached is None or cached[0] != key:
        # A normal tensor even when made inside inference_mode, so that later no_grad
        # calls may use it too.
        with torch.inference_mode(False), torch.no_grad():
            cached = (key, weight.detach().contiguous(memory_format=torch.channels_last))
        module.__dict__[_COPY] = cached
    return cached[1]


class Conv2d(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _active():
            return super().forward(x)
        return self._conv_forward(x, _nhwc_weight(self), self.bias)


class ConvTranspose2d(nn.ConvTranspose2d):
    def forward(self, x: torch.Tensor, output_size: Optional[List[int]] = None) -> torch.Tensor:
        if not _active():
            return super().forward(x, output_size)
        output_padding = self._output_padding(x, output_size, self.stride, self.padding,
                                              self.kernel_size, 2, self.dilation)
        return F.conv_transpose2d(x, _nhwc_weight(self), self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)


class PReLU(nn.PReLU):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _active() and x.dtype in (torch.float16, torch.bfloat16):
            # PyTorch's float16/bfloat16 PReLU kernel is slow on NHWC tensors. max(x, 0) +
            # w * min(x, 0) gives the same values: one of the two terms is exactly zero.
            w = self.weight.to(x.dtype).view(1, -1, 1, 1)
            return x.clamp(min=0) + w * x.clamp(max=0)
        return super().forward(x)
