"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM with its progress saved.

The handler only records the signal: raising from it could interrupt a collective (leaving
the other processes waiting) or a checkpoint write. The trainer looks at the record at
iteration boundaries, saves latest.pth and raises Stopped, which train.py turns into one line
and the exit status 128 + the signal's number (130 for SIGINT, 143 for SIGTERM, the shells'
convention).
"""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Dict, Optional, Type

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(Exception):
    """The run stopped on a signal after `iteration` iterations, saved in `path` (None when
    nothing could be saved)."""

    def __init__(self, signum: int, iteration: int, path: Optional[str]) -> None:
        self.signum, self.iteration, self.path = signum, iteration, path
        saved = f"saved {path}" if path else "no checkpoint written (the last good one is kept)"
        super().__init__(f"stopped by {signal.Signals(signum).name} after iteration {iteration}: "
                         f"{saved}; continue with --resume auto")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def ignore_stop_signals(worker_id: int) -> None:
    """A DataLoader worker's worker_init_fn: SIGINT and SIGTERM are for the training process.
    Ctrl-C in a terminal and SLURM's scancel signal the whole process group; a worker that
    died of it would fail the step the trainer finishes before saving. A worker still ends
    when the loader shuts it down or the training process is gone (the loader watches both)."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


class StopSignals:
    """While entered, SIGINT and SIGTERM set `signum` instead of ending the process; a
    repeated signal changes nothing, so a save under way finishes. The previous handlers come
    back on exit. Outside the main thread, where Python cannot install handlers, it does
    nothing."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._previous: Dict[int, Any] = {}

    def _record(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._record) for s in SIGNALS}
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
