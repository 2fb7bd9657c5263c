"""The one atomic writer: complete files or none, nothing of the user's touched before that."""
import errno
import os
import subprocess
import sys

import pytest

from utils import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target) as f:
            f.write(b"half")
            raise RuntimeError("encoder died")
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_complete_write_replaces_the_target_and_keeps_the_extension(tmp_path):
    target = tmp_path / "clip.mp4"
    with atomic.atomic_path(target) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".mp4")
        assert not os.path.exists(target)
        with open(tmp, "wb") as f:
            f.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["clip.mp4"]


def test_a_folder_replaces_an_existing_one_as_a_whole(tmp_path):
    """No file of the earlier folder stays beside the new ones (before: moved in file by
    file, an earlier run's extra frames stayed)."""
    target = tmp_path / "frames"
    target.mkdir()
    (target / "0000.png").write_bytes(b"old")
    (target / "0001.png").write_bytes(b"old")
    with atomic.atomic_path(target, directory=True) as tmp:
        with open(os.path.join(tmp, "0000.png"), "wb") as f:
            f.write(b"new")
    assert os.listdir(target) == ["0000.png"]
    assert (target / "0000.png").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["frames"]


def test_orphans_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = tmp_path / f".latest{atomic.TMP_TAG}{dead}-abc.pth"
    orphan.write_bytes(b"x")
    live = atomic.temp_name(tmp_path / "latest.pth")
    keep = tmp_path / "latest.pth"
    keep.write_bytes(b"y")
    assert atomic.remove_orphans(tmp_path) == 1
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(live), "latest.pth"])


def test_the_output_is_the_input_is_refused_through_a_link(tmp_path):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"video")
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    with pytest.raises(atomic.OutputError, match="the output is the input"):
        atomic.refuse_overwriting([link], [src])
    atomic.refuse_overwriting([tmp_path / "other.mp4"], [src])  # no error


def test_no_space_is_named():
    assert atomic.describe_os_error(OSError(errno.ENOSPC, "No space left on device")) == \
        "no space left on device"


def test_output_errors_read_as_one_plain_line(tmp_path):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"video")
    with pytest.raises(atomic.OutputError) as e:
        atomic.refuse_overwriting([src], [src])
    assert str(e.value).startswith("the output is the input") and "\n" not in str(e.value)
    assert e.value.errno == errno.EEXIST


def test_a_written_file_gets_the_mode_open_would_give(tmp_path):
    atomic._umask.cache_clear()
    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "report.json", "{}")
        with atomic.atomic_path(tmp_path / "frames", directory=True):
            pass
    finally:
        os.umask(old)
        atomic._umask.cache_clear()
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "frames").stat().st_mode & 0o777 == 0o755
