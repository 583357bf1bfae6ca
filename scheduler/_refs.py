"""Callables as import paths, and arguments as JSON: how a job is kept without pickle.

A stored job names its function ``module:qualname`` and its arguments as JSON, so every
process can check that it runs the same definition (the fingerprint in the store).

No pickle is not enough: a row naming ``os:system`` would still run a shell command. So a
dynamic job (stored, and loaded by every instance) may only name a function that this
process allowed (:class:`Allowlist`): one registered with ``@sched.task``, or one defined in
a module under ``Scheduler(allowed_modules=[...])``. Anything else is refused *before*
``importlib`` runs, since importing a module is already running its code. A registered
function may also bring a check of its stored arguments, for arguments that name further code
or hosts (the Celery and RQ senders': :mod:`scheduler.contrib._handoff`). See
docs/security.md for what a writer of the store can still do.
"""

from __future__ import annotations

import importlib
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .exceptions import ConfigurationError, InvalidJob

__all__ = ["Allowlist", "check_json", "ref_of", "resolve", "stable_ref"]

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
HOW_TO_ALLOW = (
    "register the function with @sched.task (or sched.task(func)), or list its module in "
    "Scheduler(allowed_modules=[...])"
)
#: this library: its functions import and connect to what their arguments name
#: (``scheduler.contrib.celery:load_app``, the hand-off senders), so no store row may name
#: them through ``allowed_modules``; the senders are allowed by scheduler.contrib.celery/rq
_OWN_PACKAGE = "scheduler"

#: ``check(args, kwargs)``: raises InvalidJob when a stored job's arguments name something
#: this process did not allow (see :meth:`Allowlist.add`)
ArgsCheck = Callable[[list[Any], dict[str, Any]], None]


def dotted(name: object) -> bool:
    """``name`` is ``a.b.c`` made of identifiers, none of them dunder (``__globals__``)."""
    return (
        isinstance(name, str)
        and _DOTTED.match(name) is not None
        and not any(part.startswith("__") for part in name.split("."))
    )


def under_modules(module: str, modules: Iterable[str]) -> bool:
    """``module`` is one of ``modules`` or inside one, by whole dotted components
    (``myapp.jobs`` covers ``myapp.jobs.nightly``, not ``myapp.jobsevil``)."""
    return any(module == m or module.startswith(m + ".") for m in modules)


class Allowlist:
    """The functions a dynamic job may name in this process.

    A reference is allowed when its function was registered (:meth:`add`), or when its module
    is one of ``modules`` or inside one (whole dotted components: ``myapp.jobs`` allows
    ``myapp.jobs:f`` and ``myapp.jobs.nightly:f``, not ``myapp.jobsevil:f``). Nothing else is
    allowed, and :meth:`resolve` checks before it imports anything.

    Thread-safe: registration happens at import time, resolution on the heartbeat thread.
    """

    def __init__(self, modules: Iterable[str] = ()) -> None:
        if isinstance(modules, str):
            modules = [modules]
        checked = []
        for module in modules:
            if not isinstance(module, str) or not _DOTTED.match(module):
                raise ConfigurationError(
                    f"allowed_modules takes dotted module names such as 'myapp.jobs', "
                    f"got {module!r}"
                )
            if module == _OWN_PACKAGE or module.startswith(_OWN_PACKAGE + "."):
                raise ConfigurationError(
                    f"allowed_modules may not name {module!r}: the scheduler's own functions "
                    f"import and connect to what their arguments name. To let jobs added at "
                    f"run time hand fires to Celery or RQ, use allow_celery() from "
                    f"scheduler.contrib.celery or allow_rq() from scheduler.contrib.rq"
                )
            checked.append(module)
        self.modules: tuple[str, ...] = tuple(dict.fromkeys(checked))
        self._lock = threading.Lock()
        # Invariant: ref -> the registered function (and its arguments' check); written
        # under _lock, read freely
        self._funcs: dict[str, Callable[..., Any]] = {}
        self._checks: dict[str, ArgsCheck] = {}

    def add(self, func: Callable[..., Any], check: ArgsCheck | None = None) -> str:
        """Allow ``func`` for dynamic jobs; returns its reference.

        ``check(args, kwargs)``, when given, vets the arguments of every dynamic job naming
        ``func`` (:meth:`check_args`): for a function whose arguments name further code or
        hosts, as the Celery and RQ senders' do. A later ``add`` without one keeps it.

        :raises InvalidJob: a lambda, nested function, partial or anything else that other
            processes could not import by name
        """
        ref = ref_of(func)
        if check is not None and not callable(check):
            raise InvalidJob(f"check must be callable(args, kwargs), got {check!r}")
        with self._lock:
            self._funcs[ref] = func
            if check is not None:
                self._checks[ref] = check
        return ref

    def check_args(self, ref: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Run the check registered with ``ref``'s function on a dynamic job's arguments.

        :raises InvalidJob: the check refused them (or failed: a check that raises anything
            else refuses too, with its error)
        """
        check = self._checks.get(ref)
        if check is None:
            return
        try:
            check(list(args), dict(kwargs))
        except InvalidJob:
            raise
        except Exception as exc:
            raise InvalidJob(
                f"the arguments of {ref!r} could not be checked ({type(exc).__name__}: {exc})"
            ) from None

    def registered(self, ref: str) -> Callable[..., Any] | None:
        return self._funcs.get(ref)

    def allows(self, ref: str) -> bool:
        """Whether ``ref`` may be loaded; decided from the text alone, importing nothing."""
        if ref in self._funcs:
            return True
        module, sep, qualname = ref.partition(":")
        # '__init__.__globals__' and the like lead out of the module: only plain names
        if not sep or not _DOTTED.match(module) or not dotted(qualname):
            return False
        return under_modules(module, self.modules)

    def allows_func(self, func: Callable[..., Any], ref: str) -> bool:
        """Whether ``func``, known by ``ref``, may be added as a dynamic job."""
        registered = self._funcs.get(ref)
        if registered is not None:
            return registered is func or getattr(registered, "__func__", None) is func
        return self.allows(ref)

    def check_dynamic(
        self,
        func: Callable[..., Any],
        ref: str,
        job_id: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> None:
        """A job added while the scheduler runs is stored and loaded by every instance,
        each of which runs only the functions it allowed and checks their arguments: refuse
        it here, or it would be marked broken everywhere else.

        :raises InvalidJob: ``func`` is not allowed, or its check refused the arguments
        """
        if not self.allows_func(func, ref):
            raise InvalidJob(
                f"{ref!r} cannot be added while the scheduler runs: a job added at run time "
                f"is stored and loaded by every instance, which only run functions they "
                f"allowed; {HOW_TO_ALLOW}",
                job_id=job_id,
            )
        try:
            self.check_args(ref, list(args), dict(kwargs))
        except InvalidJob as exc:
            raise InvalidJob(str(exc), job_id=job_id) from None

    def refusal(self, ref: str) -> str:
        """Why ``ref`` is refused, and how to allow it."""
        where = (
            f"allowed_modules are {list(self.modules)}" if self.modules else "no allowed_modules"
        )
        return (
            f"function {ref!r} is not allowed for dynamic jobs here (not registered with "
            f"@sched.task, {where}); {HOW_TO_ALLOW}"
        )

    def resolve(self, ref: str) -> Callable[..., Any]:
        """The function a stored dynamic job names, if this process allowed it.

        A registered function is returned as is; a function under ``allowed_modules`` is
        imported and must be defined where the reference says (not merely reachable from
        an allowed module, as ``myapp.jobs:os.system`` would be).

        :raises InvalidJob: not allowed (nothing was imported), or not importable
        """
        func = self._funcs.get(ref)
        if func is not None:
            return func
        if not self.allows(ref):
            raise InvalidJob(self.refusal(ref))
        found = resolve(ref)
        module, _, qualname = ref.partition(":")
        target = getattr(found, "__func__", found)
        if (
            getattr(target, "__module__", None) != module
            or getattr(target, "__qualname__", None) != qualname
        ):
            raise InvalidJob(
                f"{ref!r} is not a function defined in {module!r} (it leads to "
                f"{stable_ref(target)!r}); a dynamic job must name a function where it is "
                f"defined"
            )
        return found


def stable_ref(func: Callable[..., Any]) -> str:
    """``module:qualname`` for any callable, importable or not (used for default ids)."""
    target = getattr(func, "func", None) if _is_partial(func) else None
    if target is not None:
        return stable_ref(target)
    module = getattr(func, "__module__", None) or type(func).__module__
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}:{qualname}"


def _is_partial(func: object) -> bool:
    import functools

    return isinstance(func, functools.partial)


def ref_of(func: Callable[..., Any]) -> str:
    """The import path of ``func``, checked by importing it back.

    :raises InvalidJob: a lambda, nested function, partial, bound method of an instance, or
        anything that does not import back to the same object
    """
    if _is_partial(func):
        raise InvalidJob(
            f"{func!r} is a functools.partial; a stored job needs a module-level function: "
            f"pass its arguments through args=/kwargs= instead"
        )
    ref = stable_ref(func)
    module, _, qualname = ref.partition(":")
    if "<lambda>" in qualname:
        raise InvalidJob(f"{ref} is a lambda; a stored job needs a module-level function")
    if "<locals>" in qualname:
        raise InvalidJob(
            f"{ref} is a nested function; a stored job needs a function defined at module level"
        )
    if module == "__main__":
        raise InvalidJob(
            f"{ref} is defined in __main__, which other processes cannot import; "
            f"move it into a module"
        )
    try:
        found = resolve(ref)
    except InvalidJob as exc:
        raise InvalidJob(f"{ref} does not import back ({exc})") from None
    same = getattr(found, "__func__", found) is getattr(func, "__func__", func)
    if found is not func and not same:
        raise InvalidJob(f"{ref} imports to a different object than the one given")
    return ref


def resolve(ref: str) -> Callable[..., Any]:
    """Import ``module:qualname`` and return the object.

    :raises InvalidJob: malformed path, or the module or attribute is missing
    """
    module_name, sep, qualname = ref.partition(":")
    if not sep or not module_name or not qualname:
        raise InvalidJob(f"{ref!r} is not an import path of the form 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidJob(f"cannot import module {module_name!r} for {ref!r}: {exc}") from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidJob(f"module {module_name!r} has no attribute {qualname!r}") from None
    if not callable(obj):
        raise InvalidJob(f"{ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


def check_json(value: Any, path: str) -> Any:
    """Return ``value`` converted to plain JSON types (tuples become lists), or raise.

    Only what survives a JSON round trip unchanged is accepted, so a stored job runs with the
    same arguments in every process.

    :raises InvalidJob: naming the argument path (``kwargs['when']``) and the type at fault
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidJob(f"{path} is {value!r}, which JSON cannot represent")
        return value
    if isinstance(value, list):
        return [check_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        raise InvalidJob(
            f"{path} is a tuple, which JSON would turn into a list; pass a list instead"
        )
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidJob(f"{path} has the non-string key {key!r}; JSON keys are strings")
            out[key] = check_json(item, f"{path}[{key!r}]")
        return out
    hint = ""
    if hasattr(value, "isoformat"):
        hint = " (pass value.isoformat() and parse it in the job)"
    raise InvalidJob(
        f"{path} is of type {type(value).__name__}, which is not JSON-serialisable{hint}"
    )


class ModuleMissing(LookupError):
    """The module named on a command line does not exist (as opposed to an import error
    raised inside it, which keeps its own traceback)."""

    def __init__(self, module: str, cwd: str, cause: ImportError) -> None:
        super().__init__(f"{module!r} (current directory: {cwd}): {cause}")
        self.module, self.cwd, self.cause = module, cwd, cause


def import_here(module_name: str) -> Any:
    """Import a module named by the user, with the current directory first on ``sys.path``
    as ``python -m`` and ``celery -A`` have it (the CLI's targets, the Celery app).

    :raises ModuleMissing: the module itself (or a package above it) does not exist
    :raises ImportError: anything else the module's own imports raise
    """
    import os
    import sys

    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if getattr(exc, "name", None) and module_name.startswith(exc.name or "\0"):
            raise ModuleMissing(module_name, cwd, exc) from exc
        raise
