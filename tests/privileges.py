"""Permission checks that also run as root: root may write a read-only file, so as root the
check runs in a forked child that has dropped to the ``nobody`` user (CI runs as root).

Fork, not spawn: the child has every module the test imported, so ``nobody`` needs no read
access to the repository or the virtualenv; it does need a directory of its own
(:func:`nobody_dir`), since pytest's ``tmp_path`` is private to root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["as_nobody", "nobody_dir"]


def _nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


@contextmanager
def nobody_dir() -> Iterator[Path]:
    """A fresh directory the check may write in (owned by ``nobody`` when we are root)."""
    path = Path(tempfile.mkdtemp(prefix="scheduler-perm-"))
    try:
        if os.geteuid() == 0:
            user = _nobody()
            os.chown(path, user.pw_uid, user.pw_gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_nobody(check: Callable[..., Any], *args: Any) -> None:
    """Run ``check(*args)``: here when not root, else in a forked child running as
    ``nobody``; a failure in the child fails the test with the child's traceback."""
    if os.geteuid() != 0:
        check(*args)
        return
    user = _nobody()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        code = 0
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            assert os.geteuid() == user.pw_uid
            check(*args)
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    report = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, f"the check failed as nobody:\n{report}"
