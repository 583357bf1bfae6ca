"""Record two columns of the store's runs table: ``coalesced`` and ``cancel_requested``.

The models are unmanaged: the store adds the columns itself (schema step 2 in
``scheduler/stores/_sql.py``); this only tells Django they exist.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scheduler", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="jobrun",
            name="coalesced",
            field=models.IntegerField(default=0, verbose_name="coalesced overdue fires"),
        ),
        migrations.AddField(
            model_name="jobrun",
            name="cancel_requested",
            field=models.BooleanField(default=False, verbose_name="cancel requested"),
        ),
    ]
