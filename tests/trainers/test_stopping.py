"""The signal record the trainer stops on: it swallows SIGINT/SIGTERM while entered, keeps
the first one, and gives the previous handlers back."""
import os
import signal
import subprocess
import time

import pytest

from tests.trainers.helpers import (LOG_NAME, REPO, env, logged_losses, run_dir, tiny_config,
                                    train_cmd, write_config)
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


@pytest.mark.slow  # about 15 s on a busy 2-core CPU: start-up and one step of AMT-S
def test_sigterm_to_the_process_group_with_loader_workers_saves_and_exits_143(tmp_path):
    """As SLURM's scancel does: SIGTERM to the training process and its DataLoader workers at
    once. The workers must not die of it (the loader would fail the step), so the trainer
    saves latest.pth at the next iteration boundary and exits 143."""
    cfg = tiny_config(str(tmp_path), epochs=1, eval_interval=0, tensorboard=False,
                      image_interval=0, checkpoint={"latest_every_iters": 1000,
                                                    "keep_every_epochs": 0})
    cfg["data"]["train"]["params"]["length"] = 40          # 20 steps: far more than needed
    cfg["data"]["train_loader"]["num_workers"] = 1
    path = write_config(cfg, str(tmp_path / "cfg.yaml"))
    run = run_dir(cfg)
    proc = subprocess.Popen(train_cmd(path), env=env(), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while 0 not in (logged_losses(run) if os.path.exists(os.path.join(run, LOG_NAME))
                        else {}):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "training too slow to reach the first step"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the session's group: the trainer and its workers
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("stopped by SIGTERM after iteration ")
    assert os.path.isfile(os.path.join(run, "latest.pth"))
