"""Read-only Django models over the scheduler's own tables, for the admin.

They are unmanaged: the store creates and migrates ``scheduler_jobs``, ``scheduler_runs`` and
``scheduler_instances`` itself (with ``"store": "django"`` they live in the project's
database), and Django never writes to them. On SQLite the store keeps instants as integer
microseconds since the epoch, on PostgreSQL as ``timestamptz``; :class:`InstantField` reads
both as aware datetimes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..._time import from_us, to_us

__all__ = ["InstantField", "Job", "JobRun", "ScheduledJob", "SchedulerInstance"]


class InstantField(models.Field):
    """An instant as the scheduler's SQL stores keep it; read-only."""

    def db_type(self, connection: Any) -> str:
        return "bigint" if connection.vendor == "sqlite" else "timestamp with time zone"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc)
        return from_us(value)

    def get_prep_value(self, value: Any) -> Any:
        # Only reached by filters (admin date drill-down is off); mirror from_db_value.
        if isinstance(value, datetime):
            return to_us(value)
        return value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor != "sqlite":
            return value
        return value if prepared else self.get_prep_value(value)


class ScheduledJob(models.Model):
    """A job as registered in the store (one row per job id)."""

    id = models.TextField(primary_key=True, verbose_name=_("job id"))
    definition = models.TextField(_("definition (JSON)"))
    fingerprint = models.TextField(_("fingerprint"))
    anchor = InstantField(_("anchor"))
    last_fire = InstantField(_("last fire"), null=True)
    registered_by = models.TextField(_("registered by"))
    registered_at = InstantField(_("registered at"))
    broken = models.TextField(_("broken"), null=True)
    paused = models.BooleanField(_("paused (every instance)"), default=False)

    class Meta:
        managed = False
        db_table = "scheduler_jobs"
        ordering = ["id"]
        verbose_name = _("scheduled job")
        verbose_name_plural = _("scheduled jobs")

    def __str__(self) -> str:
        return str(self.id)


class JobRun(models.Model):
    """One fire of a job: ``(job id, scheduled time)``, its outcome and timing."""

    run_id = models.TextField(primary_key=True, verbose_name=_("run id"))
    job_id = models.TextField(_("job id"))
    scheduled_time = InstantField(_("scheduled time"))
    outcome = models.TextField(_("outcome"), null=True)
    attempt = models.IntegerField(_("attempt"))
    claimed_at = InstantField(_("claimed at"), null=True)
    started_at = InstantField(_("started at"), null=True)
    finished_at = InstantField(_("finished at"), null=True)
    lease_expires = InstantField(_("lease expires"), null=True)
    error = models.TextField(_("error"), null=True)
    result = models.TextField(_("result"), null=True)
    owner = models.TextField(_("owner (host:pid:instance)"))
    coalesced = models.IntegerField(_("coalesced overdue fires"), default=0)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    killed = models.BooleanField(_("worker process killed"), default=False)
    #: "schedule", or "manual" (asked for: request_run, run_job, call_job)
    trigger = models.TextField(_("trigger"), db_column="run_trigger", default="schedule")
    requested_by = models.TextField(_("requested by"), null=True)

    class Meta:
        managed = False
        db_table = "scheduler_runs"
        ordering = ["-scheduled_time"]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")

    def __str__(self) -> str:
        return f"{self.job_id} @ {self.scheduled_time}"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at  # type: ignore[no-any-return]


class Job(ScheduledJob):
    """The dashboard's entry in the admin ("Scheduler" > "Dashboard") and its permission.

    A proxy of :class:`ScheduledJob` with no table of its own. Its ``change`` permission,
    ``scheduler.change_job``, is what the dashboard's actions (run now, pause, resume) need;
    any active staff user may look at the pages.
    """

    class Meta:
        proxy = True
        verbose_name = _("job")
        verbose_name_plural = _("dashboard")


class SchedulerInstance(models.Model):
    """A started scheduler, refreshed every heartbeat; rows whose lease expired are dead
    (killed) instances that :meth:`~scheduler.Scheduler.instances` no longer lists."""

    instance = models.TextField(primary_key=True, verbose_name=_("instance (host:pid:id)"))
    host = models.TextField(_("host"))
    pid = models.IntegerField(_("pid"))
    version = models.TextField(_("version"))
    started_at = InstantField(_("started at"))
    last_heartbeat = InstantField(_("last heartbeat"))
    lease_expires = InstantField(_("lease expires"))
    running = models.TextField(_("jobs running (JSON)"), default="[]")

    class Meta:
        managed = False
        db_table = "scheduler_instances"
        ordering = ["started_at"]
        verbose_name = _("scheduler instance")
        verbose_name_plural = _("scheduler instances")

    def __str__(self) -> str:
        return str(self.instance)
