"""Jobs added at run time to a shared store are visible, and removable, before ``start()``
(#9): ``get_jobs()``, ``scheduler list``, ``remove_job()`` and ``scheduler jobs remove``.

Listing reads the stored definition: it never imports a stored job's function (a process
must not import code just because a store names it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scheduler import JobNotFound, Scheduler, cli
from scheduler.events import JobRemoved
from scheduler.stores import JobDefinition, Owner, from_url
from scheduler.testing import VirtualClock, settle
from tests.core_support import START, Recorder

NEVER_IMPORTED = "tests_never_imported_module_xyz"


def report() -> str:
    """The dynamic job's function (module level, so it can be stored by name)."""
    return "report"


def declared() -> None:
    """A job the code declares before start()."""


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A store in which a running instance added ``nightly-report`` at run time and which
    also holds a dynamic job whose module this process never imports."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    clock = VirtualClock(START)
    first = Scheduler(store=url, clock=clock, timezone="Europe/Bratislava")
    first.add_job(declared, "0 * * * *", id="declared")
    first.task(report)  # allowed for jobs added at run time (docs/security.md)
    with first:
        first.add_job(report, "0 3 * * *", id="nightly-report")
        settle(first)
    store = from_url(url)
    store.register(
        JobDefinition(
            id="elsewhere",
            name="elsewhere",
            func_ref=f"{NEVER_IMPORTED}:job",
            trigger={"type": "cron", "expression": "*/5 * * * *", "timezone": None},
            dynamic=True,
        ),
        owner=Owner.current(),
    )
    store.close()
    return url


def test_get_jobs_before_start_shows_stored_dynamic_jobs_without_importing_them(
    url: str,
) -> None:
    sched = Scheduler(store=url, timezone="Europe/Bratislava", clock=VirtualClock(START))
    sched.add_job(declared, "0 * * * *", id="declared")
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == {"declared", "nightly-report", "elsewhere"}
    assert not jobs["declared"].dynamic
    nightly = jobs["nightly-report"]
    assert nightly.dynamic and nightly.broken is None
    assert nightly.func_ref == f"{__name__}:report"
    assert nightly.trigger.describe() == "cron '0 3 * * *' (Europe/Bratislava)"
    assert nightly.next_run_time is not None
    assert nightly.next_run_time.isoformat() == "2026-03-03T03:00:00+01:00"
    assert jobs["elsewhere"].func_ref == f"{NEVER_IMPORTED}:job"
    assert NEVER_IMPORTED not in sys.modules
    assert sched.get_job("elsewhere").dynamic
    assert sched.state == "stopped"


def test_list_marks_dynamic_and_broken_jobs(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = from_url(url)
    store.mark_broken("elsewhere", f"No module named '{NEVER_IMPORTED}'")
    store.close()
    module = f"dyn_target_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{module}.py").write_text(
        f"from scheduler import Scheduler\nsched = Scheduler(store={url!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["list", f"{module}:sched"]) == 0
    out = capsys.readouterr().out
    nightly = next(line for line in out.splitlines() if line.startswith("nightly-report"))
    assert nightly.startswith("nightly-report (dynamic)")
    assert "03:00:00+01:00" in nightly or "03:00:00+02:00" in nightly
    broken = next(line for line in out.splitlines() if line.startswith("elsewhere"))
    assert "(dynamic)" in broken and f"broken: No module named '{NEVER_IMPORTED}'" in broken
    assert NEVER_IMPORTED not in sys.modules


def test_remove_job_of_a_dynamic_job_works_without_start(url: str) -> None:
    sched = Scheduler(store=url)
    events = Recorder()
    sched.add_listener(events)
    sched.remove_job("nightly-report")
    assert [e.job_id for e in events.of(JobRemoved)] == ["nightly-report"]
    assert sched.state == "stopped"
    store = from_url(url)
    assert store.get_job("nightly-report") is None
    assert store.get_job("declared") is not None
    store.close()
    with pytest.raises(JobNotFound):
        sched.remove_job("nightly-report")
    with pytest.raises(JobNotFound):  # declared by code: not removable from the store
        sched.remove_job("declared")


def test_cli_jobs_remove(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["jobs", "remove", "--store", url, "nightly-report"]) == 0
    out, _ = capsys.readouterr()
    assert out == f"removed dynamic job nightly-report ({__name__}:report) from {url}\n"
    assert cli.main(["jobs", "remove", "--store", url, "nightly-report"]) == 1
    assert "no job 'nightly-report'" in capsys.readouterr().err
    assert cli.main(["jobs", "remove", "--store", url, "declared"]) == 1
    assert "declared in code" in capsys.readouterr().err
    store = from_url(url)
    assert store.get_job("nightly-report") is None
    assert store.get_job("declared") is not None
    store.close()

