"""Found automatically (like admin.py) because the app is in INSTALLED_APPS."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

from scheduler import current_job
from scheduler.contrib.django import job

log = logging.getLogger(__name__)


@job("0 3 * * *", id="purge_expired_sessions")
def purge_expired_sessions() -> int:
    """03:00 Europe/Bratislava every day, once even on daylight-saving changeover days."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    log.info("purged %d expired sessions", deleted)
    return deleted


@job("*/15 8-18 * * mon-fri", id="count_users", retries=2)
def count_users() -> int:
    """Every quarter hour in office hours; stops early when the scheduler shuts down."""
    run = current_job()
    if run is not None and run.cancel_event.is_set():
        return 0
    return get_user_model().objects.count()
