"""Views to include in a project's ``urls.py``.

::

    from django.urls import path
    from scheduler.contrib.django.views import health

    urlpatterns = [..., path("healthz/scheduler", health)]

:func:`health` answers the scheduler's health as JSON: 200 when healthy, 503 when not. In
the process that runs the jobs (``runscheduler``, or a web process with autostart) it is
that scheduler's own :meth:`~scheduler.Scheduler.health`; in a web process whose scheduler
does not run (autostart off, the recommended layout) it is the cluster's, as the shared store
tells it (live instances, queued requests, overdue jobs). It reveals no secrets (store URLs
are not part of it); put it behind your own access rules if the job ids are private.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

__all__ = ["health"]


def _health(request: HttpRequest) -> JsonResponse:
    from ..._probe import health_of
    from . import get_scheduler

    report = health_of(get_scheduler())
    return JsonResponse(report.to_dict(), status=200 if report.ok else 503)


#: GET or HEAD: the health as JSON, 200 when ok, 503 when not (never cached)
health: Any = never_cache(require_safe(_health))
