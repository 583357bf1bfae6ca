from __future__ import annotations

from scheduler import Scheduler
from scheduler.stores import RunOutcome
from scheduler.testing import VirtualClock


def noop() -> None:
    pass


def test_declared_job_whose_row_vanished_is_registered_again_and_runs() -> None:
    """A store that lost its data (Redis restarted without persistence) must not silence the
    jobs the code declares: the next fire registers the job again and runs."""
    clock = VirtualClock("2026-05-01T00:00:00+00:00")
    sched = Scheduler(clock=clock)
    sched.add_job(noop, "* * * * *", id="minutely")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        sched.store.unregister("minutely")  # what a data loss looks like from here
        clock.advance(minutes=1, scheduler=sched)
    runs = sched.get_runs("minutely")
    assert [r.outcome for r in runs] == [RunOutcome.SUCCEEDED, RunOutcome.SUCCEEDED]
    assert sched.store.get_job("minutely") is not None


def test_unknown_scheduler_option_names_the_nearest_one() -> None:
    import pytest

    from scheduler import ConfigurationError

    with pytest.raises(ConfigurationError, match="did you mean 'max_workers'"):
        Scheduler(max_worker=3)
