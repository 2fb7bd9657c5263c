"""The one atomic writer: a file the project writes appears complete under its name or not at all.

Every output (videos, image folders, GIFs, checkpoints, exports, reports, flows) is written to a
unique temporary name in the target's own folder (so the final rename never crosses a file
system), checked, flushed to disk and renamed over the target in one step. Nothing that was at
the target is touched before that rename. Temporary names carry the writer's process id, so a
later run can tell the leftovers of a killed writer (`remove_orphans`) from a live one's.
"""
from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from typing import IO, Iterable, Iterator, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]
TMP_TAG = ".amt-tmp"


class OutputError(OSError):
    """An output that cannot or must not be written; str() is one line for the user."""

    def __str__(self) -> str:
        # OSError's own str() prefixes "[Errno N] ", which is noise in a one-line message
        return self.strerror or super().__str__()


def _split(target: PathLike) -> tuple:
    path = os.path.abspath(os.fspath(target))
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    return folder, name, stem, ext


def temp_name(target: PathLike, directory: bool = False) -> str:
    """A new, unique, empty temporary file (or folder) beside `target`, keeping its extension
    so that tools that pick a format from it (ffmpeg, OpenCV) still do."""
    folder, name, stem, ext = _split(target)
    prefix = f".{stem}{TMP_TAG}{os.getpid()}-"
    try:
        if directory:
            path = tempfile.mkdtemp(prefix=prefix, suffix=ext, dir=folder)
        else:
            fd, path = tempfile.mkstemp(prefix=prefix, suffix=ext, dir=folder)
            os.close(fd)
        # mkstemp/mkdtemp make private (0600/0700) files; the result should have the mode an
        # ordinary open() gives under the user's umask
        os.chmod(path, (0o777 if directory else 0o666) & ~_umask())
        return path
    except OSError as e:
        raise OutputError(e.errno, f"cannot write {target}: {describe_os_error(e)}") from e


@functools.lru_cache(maxsize=None)
def _umask() -> int:
    """The process's umask, read once: os.umask can only be read by setting it, which for
    a moment would affect files other threads create."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: str) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (e.g. some FUSE mounts) refuse fsync on folders
        pass
    finally:
        os.close(fd)


def commit(tmp: str, target: PathLike) -> None:
    """Flush `tmp` to disk and rename it over `target` in one step.

    A temporary folder replaces an existing target folder as a whole (the old one is renamed
    aside, the new one into place, then the old one deleted), so no file of an earlier
    output stays beside the new ones; callers refuse a folder that holds files of the user's."""
    target = os.path.abspath(os.fspath(target))
    try:
        if os.path.isdir(tmp):
            for root, _, files in os.walk(tmp):
                for f in files:
                    _fsync(os.path.join(root, f))
            if os.path.isdir(target):
                _replace_folder(tmp, target)
                return
        else:
            _fsync(tmp)
        os.replace(tmp, target)
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(e.errno, f"cannot write {target}: {describe_os_error(e)}") from e
    _fsync(os.path.dirname(target))


def _replace_folder(tmp: str, target: str) -> None:
    """Folder `tmp` in place of folder `target`: two renames (a folder cannot be renamed over
    a non-empty one), the old one put back if the second fails, deleted once it succeeded."""
    old = temp_name(target, directory=True)
    try:
        os.replace(target, old)  # onto the empty folder temp_name made
    except OSError:
        discard(old)
        raise
    try:
        os.replace(tmp, target)
    except OSError:
        os.replace(old, target)
        raise
    _fsync(os.path.dirname(target))
    discard(old)


def discard(tmp: Optional[str]) -> None:
    """Remove a temporary file or folder if it is still there."""
    if not tmp:
        return
    if os.path.isdir(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    elif os.path.lexists(tmp):
        try:
            os.remove(tmp)
        except OSError:
            pass


@contextmanager
def atomic_path(target: PathLike, directory: bool = False) -> Iterator[str]:
    """Yields a temporary path to write; on a clean exit it replaces `target`, on an
    exception it is removed and `target` is left as it was."""
    tmp = temp_name(target, directory)
    try:
        yield tmp
    except BaseException:
        discard(tmp)
        raise
    try:
        commit(tmp, target)
    except BaseException:
        discard(tmp)
        raise


@contextmanager
def atomic_open(target: PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """open() for writing whose result appears at `target` only once completely written."""
    if not any(m in mode for m in "wx"):
        raise ValueError(f"atomic_open writes; mode {mode!r} must contain 'w' or 'x'")
    with atomic_path(target) as tmp:
        try:
            with open(tmp, mode, **kwargs) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            if isinstance(e, OutputError):
                raise
            raise OutputError(e.errno, f"cannot write {target}: {describe_os_error(e)}") from e


def write_bytes(target: PathLike, data: bytes) -> None:
    with atomic_open(target, "wb") as f:
        f.write(data)


def write_text(target: PathLike, text: str) -> None:
    with atomic_open(target, "w", encoding="utf-8") as f:
        f.write(text)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (ours counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_ORPHAN = re.compile(re.escape(TMP_TAG) + r"(\d+)-")


def remove_orphans(folder: PathLike) -> int:
    """Delete temporary files and folders in `folder` left by writers that no longer run
    (a killed save, a crashed encode). Returns how many were removed."""
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        m = _ORPHAN.search(name)
        if name.startswith(".") and m and not pid_alive(int(m.group(1))):
            discard(os.path.join(folder, name))
            removed += 1
    return removed


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name the same file (through links, case-insensitive mounts, ...)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_overwriting(outputs: Iterable[PathLike], inputs: Iterable[PathLike]) -> None:
    """Raise OutputError if an output would be (or would replace) one of the inputs."""
    inputs = [os.fspath(i) for i in inputs]
    for out in outputs:
        for inp in inputs:
            if same_file(out, inp):
                raise OutputError(errno.EEXIST, f"the output is the input: {os.fspath(out)} "
                                                f"would replace {inp}; choose another -o")


def describe_os_error(e: BaseException) -> str:
    """A short lower-case cause for an OSError ('no space left on device'), else str(e)."""
    code = getattr(e, "errno", None)
    if code == errno.ENOSPC or "No space left" in str(e):
        return "no space left on device"
    if code == errno.EDQUOT:
        return "disk quota exceeded"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.EROFS:
        return "read-only file system"
    if code == errno.EISDIR:
        return "it is a folder"
    if code == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    if code == errno.ENOENT:
        return "its folder does not exist"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return str(e).splitlines()[0] if str(e) else type(e).__name__
