"""Run-folder safety of training checkpoints: orphaned temporaries, unusable save_dir, full disk."""
import os
import subprocess
import sys

import pytest
import torch

import train
from tests.trainers.helpers import tiny_config, write_config
from trainers import checkpoints
from trainers.settings import TrainingError
from utils import atomic


def _dead_pid() -> int:
    """The id of a process that has finished (and so cannot be writing anything)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_the_start_removes_temporaries_of_dead_writers_only(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    orphans = [f".latest{atomic.TMP_TAG}{dead}-x1y2.pth",  # utils.atomic's names
               f".latest.pth.tmp{dead}", f"latest.pth.tmp{dead}",  # earlier versions' names
               f"config.yaml.tmp{dead}"]
    kept = [f".latest{atomic.TMP_TAG}{alive}-a1b2.pth", f".best.pth.tmp{alive}",
            "latest.pth", "notes.tmp", f"notes.txt.tmp{dead}", "train_log.txt"]
    for name in orphans + kept:
        (run / name).write_bytes(b"x" * 10)
    assert checkpoints.resume_path(None, None, str(run)) is None
    assert sorted(os.listdir(run)) == sorted(kept)


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_a_save_dir_that_is_a_file_is_one_line_at_the_start(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    run = blocker / "run" if where == "file" else blocker / "deeper" / "run"
    with pytest.raises(TrainingError) as err:
        checkpoints.resume_path(None, None, str(run))
    message = str(err.value)
    assert "\n" not in message and str(blocker) in message and "save_dir" in message


def test_train_refuses_an_unusable_save_dir_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = tiny_config(str(tmp_path), save_dir=str(blocker))
    assert train.main(["-c", write_config(cfg, str(tmp_path / "cfg.yaml"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "save_dir" in err[0], err


def test_a_full_disk_during_a_save_is_one_line_and_keeps_latest(tmp_path, full_disk):
    run = str(tmp_path / "run")
    path = checkpoints.write({"iter": torch.tensor(1)}, run, checkpoints.LATEST)
    full_disk()
    with pytest.raises(TrainingError) as err:
        checkpoints.write({"iter": torch.tensor(2), "w": torch.ones(100000)}, run,
                          checkpoints.LATEST)
    message = str(err.value)
    assert "no space left on device" in message and "\n" not in message
    assert os.listdir(run) == [checkpoints.LATEST]
    assert torch.load(path, weights_only=True)["iter"] == 1


def test_an_unwritable_save_dir_is_one_line_at_the_start(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):  # what a folder without write permission does (tests run as root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(TrainingError, match="permission denied") as err:
        checkpoints.resume_path(None, None, str(tmp_path / "run"))
    assert "\n" not in str(err.value) and "save_dir" in str(err.value)
