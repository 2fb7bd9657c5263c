"""Conv2d, ConvTranspose2d and InstanceNorm2d that can run channels-last (NHWC) at inference.

oneDNN's CPU convolutions run NHWC activations about twice as fast as NCHW ones, but a
convolution keeps NHWC only when its weight is NHWC too, and the weights must stay as they
are for training, checkpoints and other devices. So inside `channels_last()`, and only
outside autograd, each layer runs with a channels-last copy of its weight, made once and
made again when the weight changes (an optimizer step, load_state_dict, .to()). The
numbers are those of NCHW to float32 rounding: the same products, summed in another order.
InstanceNorm2d keeps NHWC tensors NHWC (PyTorch's kernel returns NCHW for them), and PReLU
avoids PyTorch's slow low-precision kernel for them.

The switch is a context variable: threads (the web page's workers) and nested calls each see
their own setting, and a model shared between them is never modified.
"""
from __future__ import annotations

import contextvars
import functools
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_CHANNELS_LAST = contextvars.ContextVar("amt_channels_last", default=False)
_COPY = "_channels_last_parameters"  # instance attribute: (key, what _cached made, aliases)


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


def _is_nhwc(x: torch.Tensor) -> bool:
    return (x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


def _cached(module: nn.Module, dtype: torch.dtype, make: Callable[[], tuple],
            extra: Tuple[int, ...] = ()) -> Optional[tuple]:
    """`make()`, remade when the module's weight or bias changes, or `dtype` or `extra` does;
    None for parameters made inside inference_mode (they have no version counter to follow)."""
    params = [p for p in (module.weight, getattr(module, "bias", None)) if p is not None]
    if any(p.is_inference() for p in params):
        return None
    # A change through `p.data` bypasses the version counter: it is not seen here.
    key = tuple((id(p), p.data_ptr(), p._version) for p in params) + (module.weight.device, dtype,
                                                                       extra)
    cached = module.__dict__.get(_COPY)
    if cached is None or cached[0] != key:
        # Normal tensors even when made inside inference_mode, so that later no_grad calls
        # may use them too. The entry keeps aliases of the parameters: their storage stays
        # alive, so a new tensor cannot reuse its address and match the key.
        with torch.inference_mode(False), torch.no_grad():
            cached = (key, make(), [p.detach() for p in params])
        module.__dict__[_COPY] = cached
    return cached[1]


def cat_channels(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """torch.cat(parts, dim=1) of (B, C_i, H, W) tensors for a convolution to read. Inside
    `channels_last()` outside autograd it is built NHWC in one pass (PyTorch's cat of NCHW
    parts, then the convolution's own NHWC copy, are two), in autocast's dtype under
    autocast: the cast the convolution would make."""
    if not _active():
        return torch.cat(parts, dim=1)
    device = parts[0].device.type
    if torch.is_autocast_enabled(device):
        low = torch.get_autocast_dtype(device)
        parts = [p.to(low) if p.is_floating_point() else p for p in parts]
    dtype = functools.reduce(torch.promote_types, [p.dtype for p in parts])
    return torch.cat([p.permute(0, 2, 3, 1).to(dtype) for p in parts], dim=3).permute(0, 3, 1, 2)


def _nhwc_parameters(module: nn.Module) -> Optional[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """(weight, bias) for a channels-last call: the weight channels-last, both in autocast's
    dtype when autocast is on (the cast autocast would make at every call, made once)."""
    weight, bias = module.weight, module.bias
    dtype = weight.dtype
    if weight.is_floating_point() and torch.is_autocast_enabled(weight.device.type):
        dtype = torch.get_autocast_dtype(weight.device.type)
    return _cached(module, dtype, lambda: (
        weight.detach().to(dtype).contiguous(memory_format=torch.channels_last),
        None if bias is None else bias.detach().to(dtype)))


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
        if (not _active() or self.affine or self.track_running_stats or not _is_nhwc(x)
                or not x.is_floating_point()):
            return super().forward(x)
        # PyTorch's instance norm turns NHWC input into NCHW output (a slow copy each way
        # around the next convolution).
        if x.dtype in (torch.bfloat16, torch.float16):
            # Batch norm of one sample normalises each channel over H*W and keeps NHWC,
            # its statistics in float32 and its output rounded to x's dtype. Not for
            # float32: its statistics lose digits where a channel's mean is large against
            # its spread.
            outs = [F.batch_norm(x[i:i + 1], None, None, training=True, eps=self.eps)
                    for i in range(x.shape[0])]
            return outs[0] if len(outs) == 1 else torch.cat(outs)
        # The (B, H*W, C) view of the NHWC memory, mean and variance in two
        # passes, as accurate as the NCHW kernel's.
        b, c, h, w = x.shape
        y = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        mean = y.mean(dim=1, keepdim=True)  # (B, 1, C)
        d = y - mean
        var = (d * d).mean(dim=1, keepdim=True)
        out = d.mul_(torch.rsqrt(var + self.eps))
        return out.reshape(b, h, w, c).permute(0, 3, 1, 2)  # NHWC memory again


class PReLU(_CachedCopies, nn.PReLU):
    """PyTorch's bfloat16/float16 PReLU kernel is an order of magnitude slower on NHWC
    tensors than on NCHW ones, and so is a product with a per-channel weight broadcast
    along their innermost (channel) dimension. There, with every weight w <= 1 and w != 0,
    max(x, w * x) is the same function (x >= w * x where x >= 0, w * x >= x where x < 0;
    a zero weight would make 0 * inf a NaN) with the same rounding: each row of the NHWC
    memory times the weights repeated along it, then the maximum, two fast passes. Other
    layers keep PyTorch's kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if _active() and x.dtype in (torch.bfloat16, torch.float16) and _is_nhwc(x):
            # PyTorch's own dtype rules: under autocast the kernel runs in autocast's dtype,
            # outside it a weight of another dtype is refused.
            device = x.device.type
            wanted = (torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device)
                      else weight.dtype)
            if x.dtype != wanted:
                return super().forward(x)
            b, c, h, w = x.shape

            def make() -> tuple:
                v = weight.detach().to(x.dtype).expand(c)  # autocast's cast; one weight or C
                same = bool(((v <= 1) & (v != 0)).all())
                return (v.repeat(w).view(1, w * c) if same else None,)

            row = _cached(self, x.dtype, make, extra=(c, w))
            if row is not None and row[0] is not None:
                rows = x.permute(0, 2, 3, 1).reshape(b * h, w * c)  # the NHWC memory
                out = rows * row[0]
                return torch.maximum(rows, out, out=out).view(b, h, w, c).permute(0, 3, 1, 2)
        return super().forward(x)
