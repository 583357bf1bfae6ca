"""Settings of the small Django project the integration tests drive (in-process and as
``manage.py`` subprocesses). Environment variables let a subprocess test switch options."""

from __future__ import annotations

import os

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Europe/Bratislava"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.contrib.django_project.urls"
WSGI_APPLICATION = "tests.contrib.django_project.wsgi.application"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "scheduler.contrib.django",
    "tests.contrib.django_project.testapp",
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
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SCHEDULER_TEST_DB", ":memory:"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SCHEDULER = {
    "shutdown_timeout": 30.0,
    "autostart": os.environ.get("SCHEDULER_TEST_AUTOSTART") == "1",
}
if os.environ.get("SCHEDULER_TEST_STORE"):
    SCHEDULER["store"] = os.environ["SCHEDULER_TEST_STORE"]
if os.environ.get("SCHEDULER_TEST_JOBS"):
    SCHEDULER["jobs"] = os.environ["SCHEDULER_TEST_JOBS"].split(",")

if os.environ.get("SCHEDULER_TEST_LOG"):
    # Subprocess tests look for the library's log lines on stderr.
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "loggers": {"scheduler": {"handlers": ["stderr"], "level": "INFO"}},
    }
