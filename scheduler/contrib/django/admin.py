"""The run history and the registered jobs in the Django admin, read-only, and the
dashboard ("Scheduler" > "Dashboard": overview, job and runs pages, see
:mod:`scheduler.contrib.django.dashboard`).

Registered only when ``django.contrib.admin`` is installed. The scheduler writes these
tables; the admin never adds, changes or deletes a row. The tables link to the dashboard's
job pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .dashboard import ROUTES, dashboard_view
from .models import Job, JobRun, ScheduledJob, SchedulerInstance


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


F = TypeVar("F", bound=Callable[..., Any])


def column(description: str) -> Callable[[F], F]:
    """``admin.display(description=...)``, typed (Django ships no type information)."""
    return cast("Callable[[F], F]", admin.display(description=description))


def job_page_link(admin_site_name: str, job_id: str, text: str) -> str:
    """A link to the dashboard's page of ``job_id`` (escaped: ids are user data)."""
    url = reverse(f"{admin_site_name}:scheduler_job_detail") + "?" + urlencode({"id": job_id})
    link: str = format_html('<a href="{}">{}</a>', url, text)
    return link


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("job_id", "scheduled_time", "outcome", "trigger", "cancel_requested",
                    "attempt", "started_at", "duration", "owner", "dashboard")
    list_filter = ("outcome", "trigger", "job_id")
    search_fields = ("job_id", "error")
    readonly_fields = ("run_id", "job_id", "scheduled_time", "outcome", "attempt", "claimed_at",
                       "started_at", "finished_at", "lease_expires", "error", "result", "owner",
                       "coalesced", "cancel_requested", "killed", "trigger", "requested_by")

    @column(_("dashboard"))
    def dashboard(self, obj: JobRun) -> str:
        return job_page_link(self.admin_site.name, obj.job_id, _("job page"))


@admin.register(ScheduledJob)
class ScheduledJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "paused", "last_fire", "registered_by", "registered_at", "broken",
                    "dashboard")
    search_fields = ("id",)
    readonly_fields = ("id", "definition", "fingerprint", "anchor", "last_fire",
                       "registered_by", "registered_at", "broken", "paused")

    @column(_("dashboard"))
    def dashboard(self, obj: ScheduledJob) -> str:
        return job_page_link(self.admin_site.name, obj.id, _("job page"))


@admin.register(Job)
class DashboardAdmin(admin.ModelAdmin):
    """"Scheduler" > "Dashboard": the dashboard's pages instead of a change list.

    Any active staff user sees the entry and the pages; the actions need
    ``scheduler.change_job`` (checked by the views, not by these admin hooks).
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        site = self.admin_site.name
        return [
            path(route.lstrip("/"), dashboard_view(route, site), name=f"scheduler_job_{name}")
            for route, name in ROUTES.items()
        ]

@admin.register(SchedulerInstance)
class SchedulerInstanceAdmin(ReadOnlyAdmin):
    list_display = ("instance", "host", "pid", "version", "started_at", "last_heartbeat",
                    "lease_expires", "running")
    readonly_fields = list_display
