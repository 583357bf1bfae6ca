"""The dashboard in the Django admin: "Scheduler" > "Dashboard" (overview, job, runs).

The pages are the shared ones (:mod:`scheduler.dashboard`) over the process's scheduler
(:func:`~scheduler.contrib.django.get_scheduler`, which need not be started: the web process
shows the jobs that ``manage.py runscheduler`` runs). Django decides who may do what:

- an anonymous visitor is sent to the admin's login page;
- a logged-in user who is not active staff gets 403;
- active staff may look;
- the actions (run now, pause, resume) need the ``scheduler.change_job`` permission (a
  superuser has it), are POST only and are checked by Django's CSRF protection (the forms
  carry ``csrfmiddlewaretoken``); ``requested_by`` is the user's username.

The URLs live under the admin (``admin:scheduler_job_changelist`` is the overview) and are
wired by :class:`~scheduler.contrib.django.admin.DashboardAdmin`.

Threads and state: none kept here. Each request builds its
:class:`~scheduler.dashboard.Dashboard` over the scheduler :func:`get_scheduler` returns
then (cheap; so ``reset()`` and ``override_settings`` take effect at the next request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from ...dashboard import Access, Dashboard, Links, Request, SchedulerSource

__all__ = ["ACTION_PERMISSION", "DashboardLinks", "access_of", "dashboard_view"]

#: what a user needs to run, pause and resume jobs from the dashboard
ACTION_PERMISSION = "scheduler.change_job"
CSRF_FIELD = "csrfmiddlewaretoken"
DENIED_HINT = ("The scheduler dashboard is for active staff users; its actions need the "
               f"{ACTION_PERMISSION} permission.")

#: the dashboard's routes (relative to its mount point) and their admin URL names
ROUTES = {
    "/": "changelist",
    "/job": "detail",
    "/runs": "runs",
    "/action": "action",
    "/static/dashboard.css": "css",
}


def url_name(admin_site_name: str, route: str) -> str:
    """The admin URL name of a route, ``admin:scheduler_job_runs`` for ``/runs``."""
    return f"{admin_site_name}:scheduler_job_{ROUTES[route]}"


class DashboardLinks(Links):
    """The dashboard's URLs inside the admin mounted as ``admin_site_name``: the routes are
    the shared ones under the overview's URL (``/admin/scheduler/job/``)."""

    def __init__(self, admin_site_name: str = "admin") -> None:
        super().__init__(reverse(url_name(admin_site_name, "/")))


def access_of(request: HttpRequest) -> Access:
    """What the request's user may do: nothing, look (active staff), or also act (active
    staff with ``scheduler.change_job``, or a superuser)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return Access()
    return Access(view=True, act=bool(user.has_perm(ACTION_PERMISSION)),
                  user=user.get_username())


def _dashboard(admin_site_name: str) -> Dashboard:
    from . import get_scheduler

    # Django checks CSRF itself (Request.framework_csrf): the Dashboard's secret is unused.
    return Dashboard(SchedulerSource(get_scheduler()), links=DashboardLinks(admin_site_name))


def dashboard_view(route: str, admin_site_name: str = "admin") -> Callable[..., HttpResponse]:
    """The view of one route (``"/"``, ``"/job"``, ...), CSRF-protected and never cached."""
    if route not in ROUTES:
        raise ValueError(f"unknown dashboard route {route!r}; the routes are {sorted(ROUTES)}")

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            login = reverse(f"{admin_site_name}:login")
            return redirect_to_login(request.get_full_path(), login)
        access = access_of(request)
        dash = _dashboard(admin_site_name)
        resp = dash.handle(Request(
            method=request.method or "GET", path=route,
            query={k: request.GET.get(k, "") for k in request.GET},
            form={k: request.POST.get(k, "") for k in request.POST},
            access=access, remote_addr=request.META.get("REMOTE_ADDR"),
            host=request.get_host(), origin=request.META.get("HTTP_ORIGIN"),
            framework_csrf=(CSRF_FIELD, get_token(request)),
            denied_hint=DENIED_HINT,
        ))
        out = HttpResponse(resp.body, status=resp.status)
        for name, value in resp.headers:
            if name.lower() != "set-cookie":  # Django's CSRF cookie is the one in use
                out[name] = value
        return out

    view.__name__ = f"scheduler_dashboard_{ROUTES[route]}"
    protected: Callable[..., HttpResponse] = csrf_protect(never_cache(view))
    return protected
