"""Pause for every instance and runs asked for by hand (issue 12): the store's own migration
(step 4) adds the columns; this records them."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0003_jobrun_killed")]

    operations = [
        migrations.AddField(
            model_name="scheduledjob",
            name="paused",
            field=models.BooleanField(default=False, verbose_name="paused (every instance)"),
        ),
        migrations.AddField(
            model_name="jobrun",
            name="trigger",
            field=models.TextField(
                db_column="run_trigger", default="schedule", verbose_name="trigger"
            ),
        ),
        migrations.AddField(
            model_name="jobrun",
            name="requested_by",
            field=models.TextField(null=True, verbose_name="requested by"),
        ),
    ]
