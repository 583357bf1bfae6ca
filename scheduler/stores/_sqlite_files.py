"""The SQLite store's file handling: its URL, and who may write the database file.

Whoever can write the database decides which jobs run (docs/security.md), so a new database
file is created with ``file_mode`` (0600 by default, whatever the umask; SQLite gives the
-wal and -shm files it creates the database file's mode), and a database whose file,
-wal, -shm or -journal file or directory other users can write to, or that belongs to
another user, is refused. The checks read modes and owners, not ``os.access``, so they hold
when the process runs as root too.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from ..exceptions import ConfigurationError, unknown_name_message
from ._url import mask_url

__all__ = ["check_mode", "check_private", "create_private", "path_from_url"]


#: the URL's query options (``sqlite:///jobs.db?file_mode=0660``) and their parsers
_URL_OPTIONS = ("file_mode", "allow_shared_writable")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _url_options(text: str, query: str) -> dict[str, Any]:
    from urllib.parse import parse_qsl

    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _URL_OPTIONS:
            raise ConfigurationError(
                f"invalid SQLite URL {mask_url(text)!r}: "
                + unknown_name_message("option", key, _URL_OPTIONS)
            )
        if key == "file_mode":
            try:
                out[key] = int(value, 8)
            except ValueError:
                raise ConfigurationError(
                    f"invalid SQLite URL {mask_url(text)!r}: file_mode {value!r} is not an "
                    f"octal mode such as 0600 or 0660"
                ) from None
        elif value.lower() in _TRUE + _FALSE:
            out[key] = value.lower() in _TRUE
        else:
            raise ConfigurationError(
                f"invalid SQLite URL {mask_url(text)!r}: {key} must be true or false, "
                f"got {value!r}"
            )
    return out


def path_from_url(url_or_path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """The file path, and the options given in the URL's query string."""
    if isinstance(url_or_path, os.PathLike):
        return os.fspath(url_or_path), {}
    text = str(url_or_path)
    options: dict[str, Any] = {}
    if text.startswith("sqlite:"):
        if not text.startswith("sqlite:///"):
            raise ConfigurationError(
                f"invalid SQLite URL {mask_url(text)!r}: use 'sqlite:///relative.db' or "
                f"'sqlite:////absolute/path.db'"
            )
        path, _, query = text[len("sqlite:///") :].partition("?")
        options = _url_options(text, query)
        text = path
    if text in ("", ":memory:") or text.startswith("file::memory:"):
        raise ConfigurationError(
            f"SQLite store needs a file, got {mask_url(url_or_path)!r}: an in-memory SQLite "
            f"database is private to one connection; use the 'memory' store instead"
        )
    return text, options


def check_mode(file_mode: object) -> int:
    if isinstance(file_mode, bool) or not isinstance(file_mode, int):
        raise ConfigurationError(f"file_mode must be an int such as 0o600, got {file_mode!r}")
    if file_mode & ~0o666 or not file_mode & stat.S_IRUSR or not file_mode & stat.S_IWUSR:
        raise ConfigurationError(
            f"file_mode must give the owner read and write and nothing beyond rw-rw-rw- "
            f"(0o600, 0o640, 0o660), got {oct(file_mode)}"
        )
    if file_mode & stat.S_IWOTH:
        raise ConfigurationError(
            f"file_mode {oct(file_mode)} lets every user write the database, and whoever "
            f"writes it decides what runs; use 0o600, or 0o660 to share with the group"
        )
    return file_mode


def _writable_by_others(st: os.stat_result, file_mode: int) -> str | None:
    """Why users other than this one (and root) could write this file or directory, or
    None. A property of the file, not of the user we run as, so it holds for root too."""
    if st.st_mode & stat.S_IWOTH:
        return "every user can write to it"
    if st.st_mode & stat.S_IWGRP and not file_mode & stat.S_IWGRP:
        return f"its group (gid {st.st_gid}) can write to it"
    if st.st_uid not in (os.geteuid(), 0):
        return f"it belongs to another user (uid {st.st_uid}), who can change it"
    return None


def check_private(path: str, file_mode: int) -> None:
    """Refuse a database whose file, directory, -wal, -shm or -journal others can write.

    Whoever can write the file can write job rows; whoever can write the directory can
    replace the file or plant a -wal file that SQLite would replay.

    :raises ConfigurationError: naming the file and how to fix it or allow it
    """
    directory = os.path.dirname(os.path.abspath(path))
    targets = [("directory", directory)] + [
        ("file", path + suffix) for suffix in ("", "-wal", "-shm", "-journal")
    ]
    for kind, target in targets:
        try:
            st = os.stat(target)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ConfigurationError(f"cannot use SQLite database {path!r}: {exc}") from None
        why = _writable_by_others(st, file_mode)
        if why is None:
            continue
        raise ConfigurationError(
            f"refusing SQLite database {path!r}: the {kind} {target!r} "
            f"(mode {stat.filemode(st.st_mode)}) is writable by other users: {why}. Whoever "
            f"can write the database decides which jobs run and when. Fix it (chmod go-w, "
            f"chown, or move the database to a private directory), share it with the group "
            f"on purpose ('?file_mode=0660' or file_mode=0o660), or accept the risk with "
            f"'?allow_shared_writable=true' (allow_shared_writable=True)"
        )


def create_private(path: str, file_mode: int) -> None:
    """Create the database file with ``file_mode`` (whatever the umask) if it is missing.
    SQLite gives the -wal and -shm files it creates the database file's mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), file_mode)
    except FileExistsError:
        return  # another process created it first: it is checked like any existing file
    except OSError:
        return  # sqlite3.connect reports it (as an outage) with SQLite's own words
    try:
        os.fchmod(fd, file_mode)
    finally:
        os.close(fd)
