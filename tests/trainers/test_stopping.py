"""The signal record the trainer stops on: it swallows SIGINT/SIGTERM while entered, keeps
the first one, and gives the previous handlers back."""
import os
import signal

from trainers.stopping import StopSignals, Stopped


def test_signals_are_recorded_not_raised_and_handlers_come_back():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StopSignals() as signals:
        assert signals.signum is None
        os.kill(os.getpid(), signal.SIGTERM)   # delivered before os.kill returns to Python code
        os.kill(os.getpid(), signal.SIGINT)    # a second one (Ctrl-C while saving) changes nothing
        assert signals.signum == signal.SIGTERM
    assert {s: signal.getsignal(s) for s in before} == before


def test_stopped_names_the_signal_the_file_and_the_exit_status():
    e = Stopped(signal.SIGINT, 3, "/runs/x/latest.pth")
    assert str(e) == ("stopped by SIGINT after iteration 3: saved /runs/x/latest.pth; "
                      "continue with --resume auto")
    assert e.exit_status == 130 and Stopped(signal.SIGTERM, 3, None).exit_status == 143
    assert "no checkpoint written" in str(Stopped(signal.SIGTERM, 0, None))
