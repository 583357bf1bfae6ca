"""RunRecord.killed (issue 17): the store's own migration adds the column; this records it."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0002_jobrun_coalesced_cancel_requested")]

    operations = [
        migrations.AddField(
            model_name="jobrun",
            name="killed",
            field=models.BooleanField(default=False, verbose_name="worker process killed"),
        ),
    ]
