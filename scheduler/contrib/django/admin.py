"""The run history and the registered jobs in the Django admin, read-only.

Registered only when ``django.contrib.admin`` is installed. The scheduler writes these
tables; the admin never adds, changes or deletes a row.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import JobRun, ScheduledJob, SchedulerInstance


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("job_id", "scheduled_time", "outcome", "cancel_requested", "attempt",
                    "started_at", "duration", "owner")
    list_filter = ("outcome", "job_id")
    search_fields = ("job_id", "error")
    readonly_fields = ("run_id", "job_id", "scheduled_time", "outcome", "attempt", "claimed_at",
                       "started_at", "finished_at", "lease_expires", "error", "result", "owner",
                       "coalesced", "cancel_requested", "killed")


@admin.register(ScheduledJob)
class ScheduledJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "last_fire", "registered_by", "registered_at", "broken")
    search_fields = ("id",)
    readonly_fields = ("id", "definition", "fingerprint", "anchor", "last_fire",
                       "registered_by", "registered_at", "broken")


@admin.register(SchedulerInstance)
class SchedulerInstanceAdmin(ReadOnlyAdmin):
    list_display = ("instance", "host", "pid", "version", "started_at", "last_heartbeat",
                    "lease_expires", "running")
    readonly_fields = list_display
