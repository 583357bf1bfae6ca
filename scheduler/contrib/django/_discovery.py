"""Where Django jobs come from: each installed app's ``jobs`` module (like ``admin.py``) and
the modules named in ``SCHEDULER["jobs"]``; and, when that finds nothing, where it looked.

Runs in ``AppConfig.ready()`` (every process that sets Django up) and in the list command.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from ...exceptions import ConfigurationError

__all__ = ["import_listed_modules", "where_discovery_looked"]


def import_listed_modules(names: list[str]) -> None:
    """Import the modules of ``SCHEDULER["jobs"]`` (their ``@job`` decorators declare jobs).

    :raises ConfigurationError: a named module does not exist (errors raised inside an
        existing module propagate unchanged, with their traceback)
    """
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise  # a missing import inside the user's module
            raise ConfigurationError(
                f"SCHEDULER['jobs'] names {name!r}, which cannot be imported ({exc}); "
                f"give the dotted path of a module on sys.path, e.g. 'mysite.jobs'"
            ) from exc


def _app_modules() -> list[str]:
    from django.apps import apps

    return [config.name for config in apps.get_app_configs()]


def _candidate_packages() -> list[str]:
    """Packages that often hold a stray ``jobs.py``: the settings module's package and the
    packages in the current directory (the project root, where ``manage.py`` is)."""
    found: list[str] = []
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    if "." in settings_module:
        found.append(settings_module.rsplit(".", 1)[0])
    try:
        entries = sorted(Path.cwd().iterdir())
    except OSError:
        entries = []
    for entry in entries:
        if (entry / "__init__.py").is_file() and entry.name.isidentifier():
            found.append(entry.name)
    return list(dict.fromkeys(found))


def _has_jobs_module(package: str) -> bool:
    try:
        return importlib.util.find_spec(f"{package}.jobs") is not None
    except (ImportError, ValueError):
        return False


def where_discovery_looked(listed: list[str]) -> str:
    """Why no jobs were found: the apps searched, ``SCHEDULER["jobs"]``, and any ``jobs``
    module in a package that is not an installed app (the usual mistake: ``mysite/jobs.py``)."""
    apps = _app_modules()
    lines = [
        "No jobs were declared. Discovery imported the 'jobs' module of each installed app "
        f"({', '.join(apps) or 'none'}) and the modules in SCHEDULER['jobs'] "
        f"({', '.join(listed) or 'none set'})."
    ]
    stray = [
        f"{package}.jobs"
        for package in _candidate_packages()
        if package not in apps and f"{package}.jobs" not in listed and _has_jobs_module(package)
    ]
    for module in stray:
        lines.append(
            f"Found {module}, which is not in an installed app, so it was not imported: add "
            f"SCHEDULER = {{..., 'jobs': [{module!r}]}} to the settings."
        )
    return "\n".join(lines) + "\n"
