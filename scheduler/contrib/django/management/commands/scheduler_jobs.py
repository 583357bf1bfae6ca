"""``manage.py scheduler_jobs list`` and ``manage.py scheduler_jobs run ID [--queue]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler._cli_control import queue_run, requested_by
from scheduler.cli import format_jobs, run_job_now
from scheduler.exceptions import JobNotFound, StoreUnavailable


class Command(BaseCommand):
    help = "List the scheduler's jobs (next run, last outcome), or run one now by id."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION")
        sub.add_parser("list", help="jobs, triggers, next run in each job's zone, last outcome")
        run = sub.add_parser("run", help="run one job now in this process and print its outcome")
        run.add_argument("job_id")
        run.add_argument(
            "--queue",
            action="store_true",
            help="queue it for a running instance (request_run) and print the run id",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from scheduler.contrib.django import get_scheduler

        sched = get_scheduler()
        action = options.get("action") or "list"
        if action == "list":
            self.stdout.write(format_jobs(sched), ending="")
            if not sched.get_jobs():
                from scheduler.contrib.django._discovery import where_discovery_looked
                from scheduler.contrib.django.conf import get_settings

                self.stdout.write(where_discovery_looked(get_settings()["jobs"]), ending="")
            return
        who = "manage.py scheduler_jobs run"
        try:
            if options.get("queue"):
                code = queue_run(sched, options["job_id"], who, self.stdout.write)
            else:
                code = run_job_now(
                    sched,
                    options["job_id"],
                    self.stdout.write,
                    lambda text: self.stderr.write(text, ending=""),
                    requested_by=requested_by(who),
                )
        except (JobNotFound, StoreUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        if code:
            raise CommandError(f"job {options['job_id']!r} did not succeed", returncode=code)
