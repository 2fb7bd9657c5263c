"""Peak memory readings: CUDA allocator peaks, or the process's resident high-water mark."""
from __future__ import annotations


import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a timer read after it covers that work (CUDA
    runs asynchronously; the CPU needs no wait)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    """Start a new peak window (CPU: resets VmHWM through /proc/self/clear_refs on Linux)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # other systems: the peak then covers the whole process lifetime


def peak_bytes(device: torch.device) -> int:
    """Peak since reset_peak: CUDA allocated bytes, or resident bytes of this process."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

