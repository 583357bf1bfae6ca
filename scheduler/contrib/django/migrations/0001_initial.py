"""Unmanaged models: the store owns the tables; this records them for Django."""

from __future__ import annotations

from django.db import migrations, models

import scheduler.contrib.django.models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="JobRun",
            fields=[
                (
                    "run_id",
                    models.TextField(primary_key=True, serialize=False, verbose_name="run id"),
                ),
                ("job_id", models.TextField(verbose_name="job id")),
                (
                    "scheduled_time",
                    scheduler.contrib.django.models.InstantField(verbose_name="scheduled time"),
                ),
                ("outcome", models.TextField(null=True, verbose_name="outcome")),
                ("attempt", models.IntegerField(verbose_name="attempt")),
                (
                    "claimed_at",
                    scheduler.contrib.django.models.InstantField(
                        null=True, verbose_name="claimed at"
                    ),
                ),
                (
                    "started_at",
                    scheduler.contrib.django.models.InstantField(
                        null=True, verbose_name="started at"
                    ),
                ),
                (
                    "finished_at",
                    scheduler.contrib.django.models.InstantField(
                        null=True, verbose_name="finished at"
                    ),
                ),
                (
                    "lease_expires",
                    scheduler.contrib.django.models.InstantField(
                        null=True, verbose_name="lease expires"
                    ),
                ),
                ("error", models.TextField(null=True, verbose_name="error")),
                ("result", models.TextField(null=True, verbose_name="result")),
                ("owner", models.TextField(verbose_name="owner (host:pid:instance)")),
            ],
            options={
                "verbose_name": "job run",
                "verbose_name_plural": "job runs",
                "db_table": "scheduler_runs",
                "ordering": ["-scheduled_time"],
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="ScheduledJob",
            fields=[
                ("id", models.TextField(primary_key=True, serialize=False, verbose_name="job id")),
                ("definition", models.TextField(verbose_name="definition (JSON)")),
                ("fingerprint", models.TextField(verbose_name="fingerprint")),
                ("anchor", scheduler.contrib.django.models.InstantField(verbose_name="anchor")),
                (
                    "last_fire",
                    scheduler.contrib.django.models.InstantField(
                        null=True, verbose_name="last fire"
                    ),
                ),
                ("registered_by", models.TextField(verbose_name="registered by")),
                (
                    "registered_at",
                    scheduler.contrib.django.models.InstantField(verbose_name="registered at"),
                ),
                ("broken", models.TextField(null=True, verbose_name="broken")),
            ],
            options={
                "verbose_name": "scheduled job",
                "verbose_name_plural": "scheduled jobs",
                "db_table": "scheduler_jobs",
                "ordering": ["id"],
                "managed": False,
            },
        ),
    ]
