"""Crash-safe file writes (`atomic_write`): a temporary file in the target's directory, fsync,
``os.replace``, fsync of the directory. Used by `tritongrad.save` and `tritongrad.serialization.save_file`."""
from __future__ import annotations

import errno
import os
import secrets

_TEMP_PREFIX = ".tritongrad-tmp."


def _temp_name(base):
    return f"{_TEMP_PREFIX}{base[:120]}.{os.getpid()}.{secrets.token_hex(4)}"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(directory, base):
    """Remove temporaries of earlier saves of ``base`` whose writing process no longer exists."""
    prefix = f"{_TEMP_PREFIX}{base[:120]}."
    for entry in os.scandir(directory):
        if not entry.name.startswith(prefix):
            continue
        pid, _, token = entry.name[len(prefix):].partition(".")
        if not (pid.isdigit() and len(token) == 8) or _pid_alive(int(pid)):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            pass


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems cannot fsync a directory; the rename is still atomic
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def atomic_write(path, write):
    """Write a file crash-safely: ``write(f)`` fills a temporary binary file that replaces ``path``.

    The temporary (``.tritongrad-tmp.<name>.<pid>.<random>``) lives in ``path``'s directory; it is
    fsynced, renamed over ``path`` with ``os.replace`` and the directory is fsynced, so after a crash
    ``path`` holds either the old or the new contents. On any error the temporary is removed and the
    error propagates; temporaries left by killed processes are removed by the next save of ``path``.
    """
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    _remove_stale_temps(directory, base)
    tmp = os.path.join(directory, _temp_name(base))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
