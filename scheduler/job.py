"""A scheduled job and its validated options.

Every option is checked when the job is built (``add_job``), never later in a background
thread. The default id is the function's import path, ``module:qualname``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from ._refs import check_json, ref_of, stable_ref
from ._tz import UTC, tz_name
from .exceptions import InvalidJob, unknown_name_message
from .stores import JobDefinition
from .triggers import Trigger

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["DEFAULT_MISFIRE_GRACE_TIME", "Job", "JobOptions"]

_local_ids = itertools.count()

#: seconds a fire may start late and still run; long enough to cover a deploy or restart
DEFAULT_MISFIRE_GRACE_TIME = 600.0


def _number(name: str, value: object, *, minimum: float, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        none = " or None" if allow_none else ""
        raise InvalidJob(f"{name} must be a number{none}, got {value!r}")
    if value != value or value < minimum or value == float("inf"):
        raise InvalidJob(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOptions:
    """How fires of a job are run. Checked at construction.

    :param max_instances: runs of this job at once (across every process sharing the store);
        a fire beyond it is recorded as skipped
    :param misfire_grace_time: seconds a fire may start late and still run, else it is
        recorded as missed; None runs it however late
    :param coalesce: run several overdue fires of the job once (the latest)
    :param jitter: delay each run by up to this many seconds (the same delay in every process)
    :param retries: attempts after a failure (or a lost run), with exponential backoff
    :param timeout: seconds after which the run's ``cancel_event`` is set and it is recorded
        as timed out (the thread itself cannot be killed)
    """

    max_instances: int = 1
    misfire_grace_time: float | None = DEFAULT_MISFIRE_GRACE_TIME
    coalesce: bool = True
    jitter: float = 0.0
    retries: int = 0
    timeout: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_instances, bool) or not isinstance(self.max_instances, int):
            raise InvalidJob(f"max_instances must be an int >= 1, got {self.max_instances!r}")
        if self.max_instances < 1:
            raise InvalidJob(f"max_instances must be at least 1, got {self.max_instances!r}")
        _number("misfire_grace_time", self.misfire_grace_time, minimum=0, allow_none=True)
        if not isinstance(self.coalesce, bool):
            raise InvalidJob(f"coalesce must be True or False, got {self.coalesce!r}")
        _number("jitter", self.jitter, minimum=0)
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InvalidJob(f"retries must be an int >= 0, got {self.retries!r}")
        if self.timeout is not None:
            _number("timeout", self.timeout, minimum=0)
            if self.timeout <= 0:
                raise InvalidJob(f"timeout must be positive or None, got {self.timeout!r}")

    @classmethod
    def build(cls, options: Mapping[str, Any]) -> JobOptions:
        """From keyword options; an unknown name fails naming the nearest valid one."""
        valid = cls.__dataclass_fields__.keys()
        for name in options:
            if name not in valid:
                raise InvalidJob(unknown_name_message("job option", name, valid))
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """The options as a dict, shared between jobs with equal options (do not mutate)."""
        return _options_dict(self)



@functools.lru_cache(maxsize=256)
def _options_dict(options: JobOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


_NO_TAGS: frozenset[str] = frozenset()
_NO_ARGS: list[Any] = []  # shared by every memory-store definition without arguments
_NO_KWARGS: dict[str, Any] = {}


class Job:
    """A job registered with a :class:`~scheduler.Scheduler`.

    Attributes are read-only; change a job through the scheduler (pause, resume, remove).
    ``next_run_time`` is the next fire as an aware datetime in the job's zone, or None when
    the job is paused or will not fire again.
    """

    __slots__ = (
        "_anchor",
        "_due",
        "_effective",
        "_failing",
        "_fingerprint",
        "_next_fire",
        "_queued",
        "_scheduler",
        "_version",
        "args",
        "definition",
        "dynamic",
        "func",
        "func_ref",
        "id",
        "kwargs",
        "name",
        "options",
        "paused",
        "run_count",
        "tags",
        "trigger",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        func: Callable[..., Any],
        trigger: Trigger,
        *,
        id: str | None,
        name: str | None,
        args: Any,
        kwargs: Mapping[str, Any] | None,
        options: JobOptions,
        tags: Any,
        dynamic: bool,
        durable: bool,
    ) -> None:
        if not callable(func):
            raise InvalidJob(f"{func!r} is not callable; pass the function itself, not its result")
        self.func = func
        self.id = id if id is not None else stable_ref(func)
        if not isinstance(self.id, str) or not self.id.strip():
            raise InvalidJob(f"id must be a non-empty string, got {id!r}")
        self.name = name if name is not None else getattr(func, "__name__", self.id)
        if not isinstance(self.name, str):
            raise InvalidJob(f"name must be a string, got {name!r}", job_id=self.id)
        if isinstance(args, (str, bytes)) or not isinstance(args, (tuple, list)):
            raise InvalidJob(f"args must be a tuple or list, got {args!r}", job_id=self.id)
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise InvalidJob(f"kwargs must be a dict, got {kwargs!r}", job_id=self.id)
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        if isinstance(tags, str):
            tags = (tags,)
        self.tags = frozenset(tags) if tags else _NO_TAGS
        self.options = options
        self.trigger = trigger
        self.dynamic = dynamic
        self.paused = False
        self.run_count = 0
        self._scheduler = scheduler
        self._version = 0
        self._next_fire: datetime | None = None  # next fire (UTC) in the heap, or None
        self._due: datetime | None = None  # when that fire is handed to the pool (jitter)
        self._queued = False  # a fire of this job waits in the pool's queue
        # (failures in a row, type of the last error) while it keeps failing, else None;
        # the runner's, under its lock
        self._failing: tuple[int, str] | None = None
        self._anchor: datetime | None = None
        self._effective: Trigger = trigger
        # A durable store keeps the definition, so every process must agree on it: JSON
        # arguments always, and an importable function for jobs added at run time. The
        # process-local store compares nothing across processes: its definition is built
        # only when asked for, and its fingerprint is unique per Job object.
        if durable or dynamic:
            try:
                args_json = check_json(list(self.args), "args")
                kwargs_json = check_json(self.kwargs, "kwargs")
                self.func_ref = ref_of(func) if dynamic else stable_ref(func)
            except InvalidJob as exc:
                raise InvalidJob(str(exc), job_id=self.id) from None
            self.definition = self._build_definition(args_json, kwargs_json, None)
            self._fingerprint = self.definition.fingerprint
        else:
            self.func_ref = None
            self.definition = None
            self._fingerprint = f"local-{next(_local_ids)}"

    def _build_definition(
        self, args: list[Any], kwargs: dict[str, Any], fingerprint: str | None
    ) -> JobDefinition:
        return JobDefinition(
            id=self.id,
            name=self.name,
            func_ref=self.func_ref or stable_ref(self.func),
            trigger=self.trigger.to_dict(),
            args=args,
            kwargs=kwargs,
            options=self.options.to_dict(),
            dynamic=self.dynamic,
            precomputed_fingerprint=fingerprint,
        )

    def get_definition(self) -> JobDefinition:
        """What the store keeps of this job (built on first use for the memory store, with
        reprs standing in for arguments that need not be JSON there)."""
        if self.definition is None:
            self.definition = self._build_definition(
                [repr(a) for a in self.args] if self.args else _NO_ARGS,
                {k: repr(v) for k, v in self.kwargs.items()} if self.kwargs else _NO_KWARGS,
                self._fingerprint,
            )
        return self.definition

    @property
    def timezone(self) -> tzinfo:
        return self.trigger.timezone or UTC

    @property
    def next_run_time(self) -> datetime | None:
        """The next fire as an aware datetime in the job's zone; None if paused or finished."""
        fire = self._next_fire
        if fire is None or self.paused:
            return None
        return fire.astimezone(self.timezone)

    def pause(self) -> None:
        self._scheduler.pause_job(self.id)

    def resume(self) -> None:
        self._scheduler.resume_job(self.id)

    def remove(self) -> None:
        self._scheduler.remove_job(self.id)

    def __repr__(self) -> str:
        nxt = self.next_run_time
        when = nxt.isoformat() if nxt else ("paused" if self.paused else "none")
        return (
            f"<Job id={self.id!r} name={self.name!r} trigger={self.trigger.describe()!r} "
            f"next={when} zone={tz_name(self.timezone)}>"
        )
