"""A minimal project using scheduler.contrib.django.

Try it from examples/django_project/::

    python manage.py migrate
    python manage.py scheduler_jobs list
    python manage.py scheduler_jobs run purge_expired_sessions
    python manage.py runscheduler            # the production way: its own process
    gunicorn mysite.wsgi                     # with SCHEDULER_AUTOSTART=1 and a shared store
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-only-change-me"
DEBUG = True
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "Europe/Bratislava"  # the scheduler's default zone too

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "scheduler.contrib.django",
    "reports",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
}
# Jobs get the same connection handling as requests: closed before and after each run.
CONN_MAX_AGE = 60

SCHEDULER = {
    # "timezone" defaults to TIME_ZONE.
    # The project's own database (SQLite or PostgreSQL), shared by every process: each fire
    # runs once, and the run history shows in the admin (read-only) under "Scheduler".
    "store": "django",
    "max_workers": 4,
    "shutdown_timeout": 30,
    # Off: run `manage.py runscheduler`. On: web processes built by mysite/wsgi.py start it.
    "autostart": os.environ.get("SCHEDULER_AUTOSTART") == "1",
    "job_defaults": {"misfire_grace_time": 300},
    # Jobs added at run time (stored, run by every process) may only call functions from
    # these modules (or registered with get_scheduler().task): docs/security.md.
    "allowed_modules": ["reports.jobs"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"scheduler": {"handlers": ["console"], "level": "INFO"}},
}
