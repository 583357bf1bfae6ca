from __future__ import annotations

import os

from scheduler.contrib.django.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.django_project.settings")

application = get_wsgi_application()
