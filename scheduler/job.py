"""A scheduled job and its validated options.

Every option is checked when the job is built (``add_job``), never later in a background
thread. The default id is the function's import path, ``module:qualname``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from ._refs import check_json, ref_of, stable_ref
from ._tz import UTC, tz_name
from .exceptions import ConfigurationError, InvalidJob, unknown_name_message
from .stores import JobDefinition, StoredJob
from .triggers import Trigger

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = [
    "DEFAULT_MISFIRE_GRACE_TIME",
    "MAX_ID_BYTES",
    "Job",
    "JobOptions",
    "args_of",
    "check_id",
]

_local_ids = itertools.count()

#: seconds a fire may start late and still run; long enough to cover a deploy or restart
DEFAULT_MISFIRE_GRACE_TIME = 600.0

#: where a job's function is called: a pool thread, or a worker process (see _procpool)
EXECUTORS = ("thread", "process")

#: the longest job id, in bytes of UTF-8: every store can index it (PostgreSQL's btree
#: refuses index rows of about 2,700 bytes)
MAX_ID_BYTES = 200


def check_id(job_id: object) -> str:
    """Return ``job_id`` if every store can keep and index it, else raise.

    :raises InvalidJob: not a string, empty, longer than :data:`MAX_ID_BYTES` bytes of UTF-8,
        or holding a NUL or another control character (or a lone surrogate)
    """
    if not isinstance(job_id, str) or not job_id.strip():
        raise InvalidJob(f"id must be a non-empty string, got {job_id!r}")
    if len(job_id) <= MAX_ID_BYTES and job_id.isascii() and job_id.isprintable():
        return job_id  # the usual id: short printable ASCII (no control character in it)
    try:
        size = len(job_id.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidJob(
            f"id {job_id!r} is not valid Unicode text (a lone surrogate); ids are stored as UTF-8"
        ) from None
    if size > MAX_ID_BYTES:
        raise InvalidJob(
            f"id {job_id[:40]!r}... is {size} bytes of UTF-8; ids are at most {MAX_ID_BYTES} "
            f"bytes (every store must index them): pass a shorter id="
        )
    import unicodedata  # only ids that are not plain printable ASCII get here

    for char in job_id:
        if unicodedata.category(char) == "Cc":
            raise InvalidJob(
                f"id {job_id!r} contains the control character {char!r}; ids may not contain "
                f"NUL or other control characters (they break stores, logs and terminals)"
            )
    return job_id


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
        as timed out (a thread itself cannot be killed; a worker process is, see below)
    :param executor: ``"thread"`` (a pool thread) or ``"process"`` (a worker process: the
        function must be importable and its arguments must pickle)
    :param timeout_grace: ``executor="process"`` only: seconds a run whose ``cancel_event``
        was set (timeout, lost lease) may take to stop before its process gets SIGTERM, then
        SIGKILL
    """

    max_instances: int = 1
    misfire_grace_time: float | None = DEFAULT_MISFIRE_GRACE_TIME
    coalesce: bool = True
    jitter: float = 0.0
    retries: int = 0
    timeout: float | None = None
    executor: str = "thread"
    timeout_grace: float = 5.0

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
        if self.executor not in EXECUTORS:
            raise InvalidJob(
                f"executor must be one of {', '.join(map(repr, EXECUTORS))}, "
                f"got {self.executor!r}"
            )
        _number("timeout_grace", self.timeout_grace, minimum=0)

    @classmethod
    def build(cls, options: Mapping[str, Any]) -> JobOptions:
        """From keyword options; an unknown name fails naming the nearest valid one."""
        valid = cls.__dataclass_fields__.keys()
        for name in options:
            if name not in valid:
                raise InvalidJob(unknown_name_message("job option", name, valid))
        return cls(**options)

    @classmethod
    def for_job(
        cls, options: Mapping[str, Any], func: Callable[..., Any], job_id: str | None
    ) -> JobOptions:
        """:meth:`build` for ``add_job``: a refusal names the job, as every other does."""
        if not options:
            return _DEFAULT_OPTIONS
        try:
            return cls.build(options)
        except InvalidJob as exc:
            if exc.job_id is not None or not callable(func):
                raise
            job_id = job_id if job_id is not None else stable_ref(func)
            raise InvalidJob(str(exc), job_id=job_id) from None

    def to_dict(self) -> dict[str, Any]:
        """The options as a dict, shared between jobs with equal options (do not mutate)."""
        return _options_dict(self)



_DEFAULT_OPTIONS = JobOptions()


def args_of(args: Any) -> Any:
    """``add_job``'s ``args`` as Job checks them: any iterable becomes a tuple, but a str
    stays a str (``args=("x")``, a missing comma, must fail, not run ``f("x")``)."""
    if isinstance(args, (tuple, list, str, bytes)) or not isinstance(args, Iterable):
        return args
    return tuple(args)


#: options added after stores existed: left out of the stored definition at their default,
#: so the fingerprints of jobs that do not use them stay what earlier versions computed
_OMITTED_AT_DEFAULT = {"executor": "thread", "timeout_grace": 5.0}


class _Unreadable(Trigger):
    """Stands in for a stored trigger this version cannot read (a listed broken job)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)

    def next_after(self, dt: datetime) -> datetime | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def describe(self) -> str:
        return f"unreadable trigger {self.data.get('type', '?')}"


@functools.lru_cache(maxsize=256)
def _options_dict(options: JobOptions) -> dict[str, Any]:
    out = {}
    for name in options.__dataclass_fields__:
        value = getattr(options, name)
        if name not in _OMITTED_AT_DEFAULT or value != _OMITTED_AT_DEFAULT[name]:
            out[name] = value
    return out


def _shown(value: Any) -> str:
    """An argument as a memory-store definition shows it: its repr (built when the store is
    first asked, so a repr that fails cannot fail ``add_job``, nor the listing)."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


_NO_TAGS: frozenset[str] = frozenset()
_NO_ARGS: list[Any] = []  # shared by every memory-store definition without arguments
_NO_KWARGS: dict[str, Any] = {}


class Job:
    """A job registered with a :class:`~scheduler.Scheduler`.

    Attributes are read-only; change a job through the scheduler (pause, resume, remove).
    ``next_run_time`` is the next fire as an aware datetime in the job's zone (before
    ``start()``, the fire start would place first), or None when the job is paused or will
    not fire again. ``dynamic`` marks a job added at run time to a durable store; ``broken``
    says why a stored one cannot be loaded (None when it can).
    """

    __slots__ = (
        "_anchor",
        "_effective",
        "_failing",
        "_fingerprint",
        "_next_fire",
        "_preview",
        "_scheduler",
        "_version",
        "_view",
        "args",
        "broken",
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
        self.id = check_id(id if id is not None else stable_ref(func))
        self.name = name if name is not None else getattr(func, "__name__", self.id)
        if not isinstance(self.name, str):
            raise InvalidJob(f"name must be a string, got {name!r}", job_id=self.id)
        if isinstance(args, (str, bytes)) or not isinstance(args, (tuple, list)):
            raise InvalidJob(f"args must be a tuple or list, got {args!r}", job_id=self.id)
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise InvalidJob(f"kwargs must be a dict, got {kwargs!r}", job_id=self.id)
        self.args = tuple(args)
        # jobs without keyword arguments share one empty dict (attributes are read-only)
        self.kwargs = dict(kwargs) if kwargs else _NO_KWARGS
        if isinstance(tags, str):
            tags = (tags,)
        self.tags = frozenset(tags) if tags else _NO_TAGS
        self.options = options
        self.trigger = trigger = trigger.shared()
        self.dynamic = dynamic
        self.broken: str | None = None
        self._preview: datetime | None = None  # a stored view's next fire (from_stored)
        self._view = False  # built by from_stored: listed, never run
        # Who owns what (see each piece's module docstring):
        self.paused = False  # Invariant: written under JobRegistry._lock
        self.run_count = 0  # Invariant: incremented under Runner._lock
        self._scheduler = scheduler
        self._version = 0  # Invariant: under Ticker._lock (a stale heap entry is skipped)
        self._next_fire: datetime | None = None  # Invariant: under Ticker._lock; UTC, or None
        # (failures in a row, type of the last error) while it keeps failing, else None
        self._failing: tuple[int, str] | None = None  # Invariant: under Runner._lock
        # the store's anchor and the trigger anchored by it: rebound together by whichever
        # thread registers the job (JobRegistry.adopt_anchor); a reader sees the old grid or
        # the new one, and the claimer catches a fire computed on the old one
        self._anchor: datetime | None = None
        self._effective: Trigger = trigger
        # A durable store keeps the definition, so every process must agree on it: JSON
        # arguments always, and an importable function for jobs added at run time. The
        # process-local store compares nothing across processes: its definition is built
        # only when asked for, and its fingerprint is unique per Job object.
        self.func_ref: str | None
        self.definition: JobDefinition | None
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

    @classmethod
    def checked(
        cls,
        scheduler: Scheduler,
        run_context: Any,
        func: Callable[..., Any],
        trigger: Trigger,
        **fields: Any,
    ) -> Job:
        """A job, with what its executor needs checked too (``executor="process"``: an
        importable function, arguments and the scheduler's ``run_context`` that pickle)."""
        job = cls(scheduler, func, trigger, **fields)
        if job.options.executor == "process":
            from ._procwire import check_job

            check_job(job, run_context)
        return job

    @classmethod
    def from_stored(cls, scheduler: Scheduler, item: StoredJob, *, default_timezone: tzinfo) -> Job:
        """A job as the store has it (a dynamic one listed before ``start()``; another
        instance's job paused from here): the function is *not* imported (calling it raises
        :class:`InvalidJob`); a definition that cannot be read leaves the reason in
        ``broken``."""
        from .triggers import from_dict

        d = item.definition
        job = object.__new__(cls)
        job.id, job.name, job.func_ref, job.definition = d.id, d.name, d.func_ref, d
        job.args, job.kwargs, job.tags = tuple(d.args), dict(d.kwargs), _NO_TAGS
        job.dynamic, job.paused, job.run_count, job.broken = d.dynamic, item.paused, 0, item.broken
        job._scheduler, job._version, job._fingerprint = scheduler, 0, item.fingerprint
        job._next_fire = job._preview = job._failing = None
        job._anchor, job._view = item.anchor, True

        def not_loaded(*args: Any, **kwargs: Any) -> Any:
            raise InvalidJob(
                f"stored job {d.id} ({d.func_ref}) is not loaded in this process; "
                f"start() loads the store's dynamic jobs",
                job_id=d.id,
            )

        job.func = not_loaded
        try:
            job.trigger = from_dict(d.trigger).with_default_timezone(default_timezone)
            job.options = JobOptions.build(d.options)
        except (ConfigurationError, ValueError, TypeError, KeyError) as exc:
            job.trigger = _Unreadable(d.trigger)
            job.options = JobOptions()
            job.broken = job.broken or f"unreadable definition: {exc}"
        job._effective = job.trigger.anchored(item.anchor)
        return job

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
                [_shown(a) for a in self.args] if self.args else _NO_ARGS,
                {k: _shown(v) for k, v in self.kwargs.items()} if self.kwargs else _NO_KWARGS,
                self._fingerprint,
            )
        return self.definition

    @property
    def timezone(self) -> tzinfo:
        """The zone people see this job's times in: its trigger's, else (an interval, a
        one-off time) the scheduler's."""
        return self.trigger.timezone or getattr(self._scheduler, "timezone", None) or UTC

    @property
    def next_run_time(self) -> datetime | None:
        """The next fire as an aware datetime in the job's zone; None if paused or finished.

        Before ``start()`` it is the fire that start would place first: the first after now,
        or after the last fire claimed in a durable store (catch-up)."""
        if self.paused or self.broken is not None:
            return None
        fire = self._next_fire
        if fire is None and self._scheduler.state == "stopped":
            from .scheduler import pieces_of

            preview = pieces_of(self._scheduler).preview
            fire = self._preview if self._view else preview.first_fire(self)
            if fire is None and self._view:
                fire = self._effective.next_after(preview.now())
        if fire is None:
            return None
        return fire.astimezone(self.timezone)

    def __lt__(self, other: Job) -> bool:
        """An arbitrary, consistent order: the ticker's heap breaks a full tie with it (two
        jobs of one id due at one instant, the old one replaced by the new one)."""
        return id(self) < id(other)

    def pause(self) -> None:
        """Pause it for every instance sharing the store (:meth:`Scheduler.pause_job`)."""
        self._scheduler.pause_job(self.id)

    def resume(self) -> None:
        """Resume it everywhere, from now on (:meth:`Scheduler.resume_job`)."""
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
