"""The browser tests' jobs declared the Django way (``SCHEDULER["jobs"]`` lists this module):
the project's web process shows them, its ``manage.py runscheduler`` process runs them."""

from __future__ import annotations

from scheduler.contrib.django import job
from tests.browser.dashjobs import JOBS

for _func, _trigger, _options in JOBS:
    job(_trigger, **_options)(_func)
