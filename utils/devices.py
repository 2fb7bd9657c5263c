"""The --device option of every command: 'auto' or a torch device name, checked against this
machine before any input is read or output opened. torch is imported only when a device is
checked, so the parsers that name DEFAULT_DEVICE stay light."""
from __future__ import annotations

from utils.names import DEFAULT_DEVICE

__all__ = ["DEFAULT_DEVICE", "DeviceError", "check_device"]


class DeviceError(ValueError):
    """A device this machine does not have, or a name that is no device (one line)."""


def check_device(name: str, flag: str = "--device", backend: str = "torch") -> str:
    """'auto' -> 'cuda' when CUDA is available and `backend` is 'torch', else 'cpu' (the
    ONNX backends run on the CPU only: utils.runtimes.check_backend refuses a GPU named for
    them); any other name (cpu, cuda, cuda:1, mps, ...) is returned as given when this
    machine has that device. DeviceError (naming `flag`) otherwise."""
    import torch  # here, not at import: the command lines' --help must not load torch

    if name == "auto":
        return "cuda" if backend == "torch" and torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(f"{flag}: unknown device {name!r}; use auto, cpu, cuda, cuda:N or "
                          "mps") from None
    if device.type == "cpu":
        return name
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is a CPU-only build" if torch.version.cuda is None
                   else "no CUDA GPU is visible")
            raise DeviceError(f"{flag} {name}: CUDA is not available here ({why}); use "
                              f"{flag} cpu, or leave it out to choose automatically")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{flag} {name}: this machine has {count} CUDA device(s), "
                              f"cuda:0 to cuda:{count - 1}")
        return name
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"{flag} {name}: Apple's MPS is not available here; use "
                              f"{flag} cpu, or leave it out to choose automatically")
        return name
    raise DeviceError(f"{flag} {name}: {device.type} devices are not supported; use auto, "
                      "cpu, cuda, cuda:N or mps")
