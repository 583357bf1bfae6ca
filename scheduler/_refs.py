"""Callables as import paths, and arguments as JSON: how a job is kept without pickle.

A stored job names its function ``module:qualname`` and its arguments as JSON, so a writable
store can never become remote code execution, and every process can check that it runs the
same definition (the fingerprint in the store).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from .exceptions import InvalidJob

__all__ = ["check_json", "ref_of", "resolve", "stable_ref"]


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


def json_text(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"))
