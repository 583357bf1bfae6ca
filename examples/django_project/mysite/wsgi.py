"""WSGI entry point. ``scheduler.contrib.django.wsgi.get_wsgi_application`` is Django's,
plus: start the scheduler when ``SCHEDULER['autostart']`` is on. Only web servers (and
runserver's serving child) build this application, so ``migrate``, ``shell`` or ``test``
never start jobs."""

from __future__ import annotations

import os

from scheduler.contrib.django.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
