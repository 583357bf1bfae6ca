"""The Django app: add ``"scheduler.contrib.django"`` to ``INSTALLED_APPS``."""

from __future__ import annotations

import os
import sys

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulerConfig(AppConfig):
    """Registers the ``SCHEDULER`` system checks and discovers each app's ``jobs`` module.

    ``ready()`` runs in every process that sets Django up (``migrate``, ``shell``, ``test``,
    the autoreloader's watcher), so it never starts the scheduler, with one exception: the
    serving child of ``runserver`` when ``autostart`` is on. Web servers start it when the
    WSGI/ASGI application is created (:mod:`scheduler.contrib.django.wsgi`), and
    ``manage.py runscheduler`` runs it in a process of its own.
    """

    name = "scheduler.contrib.django"
    label = "scheduler"
    verbose_name = _("Scheduler")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.utils.module_loading import autodiscover_modules

        from ...exceptions import ConfigurationError
        from . import maybe_autostart
        from ._discovery import import_listed_modules
        from .checks import check_settings
        from .conf import get_settings

        checks.register(check_settings)
        autodiscover_modules("jobs")
        try:
            listed = get_settings()["jobs"]
        except ConfigurationError:
            listed = []  # the system check reports the bad setting
        import_listed_modules(listed)
        if _is_runserver_child():
            maybe_autostart("runserver")


def _is_runserver_child() -> bool:
    """``manage.py runserver`` in the process that serves: the autoreloader's child
    (``RUN_MAIN=true``, see ``django.utils.autoreload``) or a ``--noreload`` run."""
    argv = sys.argv
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return os.environ.get("RUN_MAIN") == "true" or "--noreload" in argv
