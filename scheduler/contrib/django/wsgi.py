"""WSGI and ASGI entry points that start the scheduler when ``SCHEDULER['autostart']`` is on.

In the project's ``wsgi.py``::

    from scheduler.contrib.django.wsgi import get_wsgi_application
    application = get_wsgi_application()

Creating the application is what a web server does, and nothing else does (``migrate``,
``shell``, ``test``, ``collectstatic`` never build it), so it is the safe place to start. Under
``runserver`` it is created only in the autoreloader's serving child.
"""

from __future__ import annotations

from typing import Any

from . import maybe_autostart

__all__ = ["get_asgi_application", "get_wsgi_application"]


def get_wsgi_application() -> Any:
    """:func:`django.core.wsgi.get_wsgi_application`, then start the scheduler if autostart."""
    from django.core.wsgi import get_wsgi_application as django_wsgi

    application = django_wsgi()
    maybe_autostart("wsgi")
    return application


def get_asgi_application() -> Any:
    """:func:`django.core.asgi.get_asgi_application`, then start the scheduler if autostart.

    The scheduler still runs jobs in threads; async job functions are not supported.
    """
    from django.core.asgi import get_asgi_application as django_asgi

    application = django_asgi()
    maybe_autostart("asgi")
    return application
