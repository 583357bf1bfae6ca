"""The memory store keeps a job of this process without building its definition until it is
read (#15): what it shows then is what it showed when it built it at registration."""

from __future__ import annotations

import threading

from scheduler import Interval, Scheduler
from scheduler.testing import VirtualClock


def job_func(*args: object, **kwargs: object) -> None:
    pass


def other_func() -> None:
    pass


class Unrepresentable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def started() -> Scheduler:
    s = Scheduler(clock=VirtualClock("2026-03-02T12:00:00+00:00"))
    s.start()
    return s


def test_the_stored_definition_shows_the_job_as_added() -> None:
    s = started()
    try:
        s.add_job(job_func, Interval(minutes=5), id="a", args=[1, "x"], kwargs={"k": 2})
        stored = s.store.get_job("a")
        assert stored is not None
        d = stored.definition
        assert d.func_ref == f"{__name__}:job_func"
        assert d.args == ["1", "'x'"] and d.kwargs == {"k": "2"}
        assert d.trigger == Interval(minutes=5).to_dict()
        assert stored.fingerprint == d.fingerprint
        assert [j.definition.id for j in s.store.load_jobs(dynamic_only=False)] == ["a"]
        assert s.store.load_jobs() == []  # nothing here was added to a shared store

        s.add_job(other_func, Interval(minutes=6), id="a", replace_existing=True)
        replaced = s.store.get_job("a")
        assert replaced is not None
        assert replaced.definition.func_ref == f"{__name__}:other_func"
        assert replaced.definition.args == []
        assert replaced.fingerprint != stored.fingerprint
    finally:
        s.shutdown(timeout=1)


def test_an_argument_whose_repr_fails_is_shown_not_raised() -> None:
    s = started()
    try:
        s.add_job(job_func, Interval(minutes=5), id="a", args=[Unrepresentable()])
        stored = s.store.get_job("a")
        assert stored is not None
        assert stored.definition.args == ["<unrepresentable Unrepresentable>"]
    finally:
        s.shutdown(timeout=1)


def test_an_argument_whose_repr_reads_the_store_does_not_deadlock_it() -> None:
    s = started()

    class AsksTheStore:
        def __repr__(self) -> str:
            s.store.get_job("b")  # the store's lock must not be held while this runs
            return "<asks>"

    try:
        s.add_job(job_func, Interval(minutes=5), id="a", args=[AsksTheStore()])
        s.add_job(job_func, Interval(minutes=5), id="b")
        shown: list[object] = []
        reader = threading.Thread(target=lambda: shown.append(s.store.get_job("a")), daemon=True)
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "get_job deadlocked on the store's lock"
        stored = shown[0]
        assert stored is not None and stored.definition.args == ["<asks>"]  # type: ignore[attr-defined]
    finally:
        s.shutdown(timeout=1)
