"""Command-line glue shared by the demos: one-line outcomes, signals and exit statuses.

Light on purpose: the demos' parsers import it, and `--help` must answer without torch, cv2
or the video libraries, so the pipeline is imported only once a run starts.
"""
from __future__ import annotations

import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from demos.pipeline import RunSummary

# Exit statuses of the command-line tools (documented in docs/interpolation.md and --help).
EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 2, 3
EPILOG = (f"exit status: {EXIT_OK} complete; {EXIT_ERROR} error (nothing written, an existing "
          f"output left as it was); {EXIT_PARTIAL} partial (stopped early by Ctrl-C, SIGTERM, "
          "input that broke off or ended early, out of memory, ...: the finished frames are "
          "kept in <name>.partial<ext>). See docs/interpolation.md.")


def report(summary: RunSummary) -> None:
    """Details on stdout; the one outcome line on stdout (complete) or stderr (partial)."""
    print(f"weights: {summary.weights}; times: {summary.times}")
    if summary.images_dir:
        print(f"frames saved in {summary.images_dir}")
    for note in summary.notes:
        print(f"note: {note}")
    print(summary.line(), file=sys.stderr if summary.partial else sys.stdout)


@contextmanager
def stop_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the run the same way (the pipeline keeps what is finished).
    Only the first one interrupts, and none while the outputs are being closed: stopping
    the close would lose every finished frame, so such a signal is noted and ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from demos.pipeline import CLOSING, Interrupted
    names = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "stopped by SIGTERM"}
    fired = []

    def handler(signum, frame) -> None:
        if fired or CLOSING.is_set():
            print("note: still closing the output; the finished frames will be kept",
                  file=sys.stderr)
            return
        fired.append(signum)
        raise Interrupted(names[signum])
    old = {s: signal.signal(s, handler) for s in names}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def guarded(fn: Callable[[], RunSummary]) -> int:
    """Run a demo: the outcome in one line, with the exit statuses in EPILOG."""
    from demos.pipeline import DemoError, Interrupted
    from utils.devices import DeviceError
    warnings.simplefilter("always", UserWarning)
    warnings.formatwarning = lambda msg, *a, **k: f"note: {msg}\n"
    with stop_signals():
        try:
            summary = fn()
        except (DemoError, DeviceError) as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_ERROR
        except Interrupted as e:  # before the first frame: nothing was written
            print(f"error: {e.reason} before any frame was written", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            print("error: interrupted (Ctrl-C) before any frame was written", file=sys.stderr)
            return EXIT_ERROR
        report(summary)
    return EXIT_PARTIAL if summary.partial else EXIT_OK
