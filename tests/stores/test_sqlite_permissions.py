"""SQLite files are private (#10 item 1): whoever can write them decides what runs.

The checks read the files' modes and owners, not ``os.access``, so they hold for root (CI)
as for any user.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from scheduler import Scheduler
from scheduler.exceptions import ConfigurationError
from scheduler.stores.sqlite import SQLiteStore


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def private_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "private"
    directory.mkdir(mode=0o700)
    return directory


def test_database_wal_and_shm_are_created_0600_whatever_the_umask(private_dir: Path) -> None:
    old = os.umask(0o000)  # the most permissive umask: the mode must not come from it
    try:
        store = SQLiteStore(private_dir / "jobs.db")
        store.open()
        assert store.journal_mode() == "wal"
        files = {p.name: mode(p) for p in private_dir.iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert files == {"jobs.db": 0o600, "jobs.db-wal": 0o600, "jobs.db-shm": 0o600}


def test_group_sharing_is_an_explicit_option(private_dir: Path) -> None:
    os.chmod(private_dir, 0o770)  # a directory the group shares
    with pytest.raises(ConfigurationError, match="its group"):
        SQLiteStore(private_dir / "jobs.db")
    store = SQLiteStore(f"sqlite:///{private_dir / 'jobs.db'}?file_mode=0660")
    store.open()
    assert {p.name: mode(p) for p in private_dir.iterdir()} == {
        "jobs.db": 0o660, "jobs.db-wal": 0o660, "jobs.db-shm": 0o660,
    }  # fmt: skip
    store.close()
    again = SQLiteStore(private_dir / "jobs.db", file_mode=0o660)  # the keyword form
    assert again.file_mode == 0o660


@pytest.mark.parametrize("target", ["directory", "file", "wal"])
def test_files_other_users_can_write_are_refused(private_dir: Path, target: str) -> None:
    path = private_dir / "jobs.db"
    SQLiteStore(path).open()
    (private_dir / "jobs.db-wal").touch(mode=0o600)
    chmod = {"directory": (private_dir, 0o777), "file": (path, 0o666),
             "wal": (private_dir / "jobs.db-wal", 0o606)}[target]  # fmt: skip
    os.chmod(*chmod)
    with pytest.raises(ConfigurationError) as info:
        SQLiteStore(path)
    message = str(info.value)
    assert "writable by other users" in message and str(chmod[0]) in message
    assert "allow_shared_writable" in message and "file_mode=0660" in message
    with pytest.raises(ConfigurationError):  # through the Scheduler too, at construction
        Scheduler(store=f"sqlite:///{path}")
    assert SQLiteStore(f"sqlite:///{path}?allow_shared_writable=true").allow_shared_writable
    assert SQLiteStore(path, allow_shared_writable=True).allow_shared_writable


def test_world_writable_sticky_directory_is_refused(private_dir: Path) -> None:
    # /tmp-like: another user could plant jobs.db-wal before us
    os.chmod(private_dir, 0o1777)
    with pytest.raises(ConfigurationError, match="every user can write"):
        SQLiteStore(private_dir / "jobs.db")


def test_a_file_owned_by_another_user_is_refused(private_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    path = private_dir / "jobs.db"
    path.touch(mode=0o600)
    os.chown(path, 12345, -1)
    with pytest.raises(ConfigurationError, match="another user"):
        SQLiteStore(path)


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("file_mod=0600", "did you mean 'file_mode'"),
        ("file_mode=rw", "not an octal mode"),
        ("file_mode=0666", "every user"),
        ("file_mode=0400", "owner read and write"),
        ("file_mode=0755", "nothing beyond"),
        ("allow_shared_writable=maybe", "true or false"),
    ],
)
def test_bad_url_options_fail_at_construction(private_dir: Path, query: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        SQLiteStore(f"sqlite:///{private_dir / 'jobs.db'}?{query}")
