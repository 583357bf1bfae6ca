"""Live scheduler instances (issue 12): the store's own migration creates the table; this
records it for Django (unmanaged). The lead renumbers it at merge if another 0004 lands."""

from __future__ import annotations

from django.db import migrations, models

import scheduler.contrib.django.models


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0003_jobrun_killed")]

    operations = [
        migrations.CreateModel(
            name="SchedulerInstance",
            fields=[
                (
                    "instance",
                    models.TextField(
                        primary_key=True, serialize=False, verbose_name="instance (host:pid:id)"
                    ),
                ),
                ("host", models.TextField(verbose_name="host")),
                ("pid", models.IntegerField(verbose_name="pid")),
                ("version", models.TextField(verbose_name="version")),
                (
                    "started_at",
                    scheduler.contrib.django.models.InstantField(verbose_name="started at"),
                ),
                (
                    "last_heartbeat",
                    scheduler.contrib.django.models.InstantField(verbose_name="last heartbeat"),
                ),
                (
                    "lease_expires",
                    scheduler.contrib.django.models.InstantField(verbose_name="lease expires"),
                ),
                ("running", models.TextField(default="[]", verbose_name="jobs running (JSON)")),
            ],
            options={
                "verbose_name": "scheduler instance",
                "verbose_name_plural": "scheduler instances",
                "db_table": "scheduler_instances",
                "ordering": ["started_at"],
                "managed": False,
            },
        ),
    ]
