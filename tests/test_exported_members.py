"""``scheduler.__all__`` lists exactly the public names of the package (httpx's check)."""

from __future__ import annotations
import __future__

import types

import scheduler


def _public_names() -> list[str]:
    # submodules become attributes of the package once imported, and the __future__
    # import leaves a name behind: neither is part of the contract
    return [
        name
        for name, value in vars(scheduler).items()
        if not name.startswith("_")
        and not isinstance(value, (types.ModuleType, __future__._Feature))
    ]


def test_all_is_sorted() -> None:
    assert scheduler.__all__ == sorted(scheduler.__all__)


def test_all_imports_are_exported() -> None:
    # the lazily loaded names (module __getattr__) are public without being in vars() yet
    assert sorted(scheduler.__all__) == sorted({*_public_names(), *scheduler._LAZY})


def test_every_exported_name_resolves() -> None:
    for name in scheduler.__all__:
        assert getattr(scheduler, name) is not None, name
    assert len(set(scheduler.__all__)) == len(scheduler.__all__)


def test_the_contract_names_of_the_issue_are_exported() -> None:
    contract = {
        "Scheduler",
        "Cron",
        "Interval",
        "Daily",
        "Once",
        "current_job",
        "SchedulerError",
        "InvalidCronExpression",
        "InvalidTimezone",
        "InvalidTrigger",
        "DuplicateJobId",
        "JobNotFound",
        "SchedulerNotRunning",
        "SchedulerAlreadyRunning",
    }
    assert contract <= set(scheduler.__all__)


def test_error_hierarchy() -> None:
    for name in scheduler.__all__:
        obj = getattr(scheduler, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, scheduler.SchedulerError), name
    for bad_argument in (
        scheduler.ConfigurationError,
        scheduler.InvalidCronExpression,
        scheduler.InvalidTimezone,
        scheduler.InvalidTrigger,
        scheduler.InvalidJob,
        scheduler.DuplicateJobId,
    ):
        assert issubclass(bad_argument, ValueError), bad_argument
    assert issubclass(scheduler.JobNotFound, LookupError)


def test_classes_keep_their_true_module() -> None:
    # no __module__ rewriting: a path leads to the file that defines the name
    assert scheduler.Scheduler.__module__ == "scheduler.scheduler"
    assert scheduler.Cron.__module__ == "scheduler.triggers.cron"
