"""The dashboard (issue 13): a proxy model with no table, for the admin's "Dashboard" entry
and the ``scheduler.change_job`` permission its actions need."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0005_schedulerinstance")]

    operations = [
        migrations.CreateModel(
            name="Job",
            fields=[],
            options={
                "verbose_name": "job",
                "verbose_name_plural": "dashboard",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("scheduler.scheduledjob",),
        ),
    ]
