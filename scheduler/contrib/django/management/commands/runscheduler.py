"""``manage.py runscheduler``: run the project's scheduler in this process until a signal."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scheduler.cli import JSONFormatter, has_level_handler, run_until_signal
from scheduler.contrib._common import check_uwsgi_threads


class Command(BaseCommand):
    help = (
        "Run the scheduler until SIGTERM or SIGINT, then shut down gracefully (running jobs "
        "are asked to stop and waited for up to shutdown_timeout). Exit 0 when every job "
        "finished in time, 1 otherwise. The recommended way to run jobs in production."
    )
    requires_system_checks = "__all__"  # type: ignore[assignment]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--log-format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        from scheduler.contrib.django import get_scheduler

        verbosity = int(options.get("verbosity", 1))
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
        lib = logging.getLogger("scheduler")
        lib.setLevel(level)
        if not has_level_handler(lib):
            # Django's default LOGGING only serves the "django" logger.
            handler = logging.StreamHandler(sys.stderr)
            if options["log_format"] == "json":
                handler.setFormatter(JSONFormatter())
            else:
                handler.setFormatter(
                    logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
                )
            lib.addHandler(handler)
        check_uwsgi_threads()
        sched = get_scheduler()
        jobs = sched.get_jobs()
        if not jobs:
            from scheduler.contrib.django._discovery import where_discovery_looked
            from scheduler.contrib.django.conf import get_settings

            self.stderr.write(where_discovery_looked(get_settings()["jobs"]), ending="")
        self.stderr.write(
            f"Running the scheduler with {len(jobs)} job(s); stop with Ctrl+C or SIGTERM."
        )
        self.stderr.flush()
        if run_until_signal(sched) is False:
            self.stderr.write("Shut down with jobs still running after the shutdown timeout.")
            sys.exit(1)
