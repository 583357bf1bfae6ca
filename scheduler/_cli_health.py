"""``scheduler health``: a probe that prints JSON and answers with its exit code.

::

    scheduler health myapp.tasks:sched            # the app's store, as its config says
    scheduler health --store postgresql://... [--prefix scheduler_] [--this-host]

Both read the store (:func:`scheduler._probe.cluster_health`): a probe runs in a process of
its own, so the scheduler it checks lives elsewhere; what they share is the store. Healthy
when the store answers, at least one scheduler instance is alive (on this host, with
``--this-host``: what a Kubernetes liveness probe inside the scheduler's pod asks) and no
job is overdue past its grace. ``TARGET`` imports the app (no URL or password on the command
line); ``--store`` needs nothing but the URL. When ``TARGET``'s scheduler runs in this very
process (a factory that starts it), its own :meth:`~scheduler.Scheduler.health` is used.

Exit codes: 0 healthy, 1 unhealthy (the JSON says why), 2 bad usage: no or both sources, a
bad URL or prefix, a memory store (private to one process: nothing to probe from outside).
URLs are printed with the password masked.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ._probe import Health
    from .stores import Store

__all__ = ["add_command", "cmd_health"]

EXIT_OK = 0
EXIT_UNHEALTHY = 1


def add_command(sub: Any) -> None:
    """Add ``scheduler health`` to the CLI's subparsers (``cli.py`` calls this)."""
    parser = sub.add_parser(
        "health",
        help="print the scheduler cluster's health as JSON; exit 0 healthy, 1 not",
        description="Read the store of TARGET (or --store URL) and print JSON: live "
        "instances, queued run requests, overdue jobs. Exit 0 when healthy, 1 when not, 2 on "
        "bad usage or a bad URL. For Kubernetes probes (see the README).",
    )
    parser.add_argument(
        "target", nargs="?", default=None,
        help="module:attr naming the app's Scheduler (or a factory of one)",
    )  # fmt: skip
    parser.add_argument("--store", default=None, help="a store URL instead of TARGET")
    parser.add_argument("--prefix", default=None, help="the store's table/key prefix")
    parser.add_argument(
        "--this-host", action="store_true",
        help="count only the scheduler instances on this host (a liveness probe in a pod)",
    )  # fmt: skip
    parser.set_defaults(func=cmd_health)


def _store_from_url(url: str, prefix: str | None) -> Store:
    from .exceptions import ConfigurationError, InvalidStoreURL
    from .stores import from_url
    from .stores._url import mask_in

    try:
        return from_url(url, **({} if prefix is None else {"prefix": prefix}))
    except (InvalidStoreURL, ConfigurationError, ValueError, ImportError) as exc:
        from .cli import UsageError

        raise UsageError(f"bad --store: {mask_in(str(exc), url)}") from None


def cmd_health(args: argparse.Namespace, out: TextIO) -> int:
    from ._probe import cluster_health
    from .cli import UsageError, load_target
    from .stores._url import describe_store

    if (args.target is None) == (args.store is None):
        raise UsageError("give either TARGET (module:attr) or --store URL")
    if args.store is not None:
        store = _store_from_url(args.store, args.prefix)
    else:
        if args.prefix is not None:
            raise UsageError("--prefix goes with --store (TARGET's store has its own)")
        sched = load_target(args.target)
        store = sched.store
        if sched.running:  # a factory started it here: its own view is the truth
            return _report(out, describe_store(store), sched.health())
    if not store.shared:
        raise UsageError(
            f"{type(store).__name__} lives inside one process: nothing to probe from outside; "
            f"use a shared store, or the scheduler's own health() (Flask SCHEDULER_HEALTH_URL, "
            f"Django scheduler.contrib.django.views.health)"
        )
    try:
        health = cluster_health(store, host=os.uname().nodename if args.this_host else None)
    finally:
        store.close()
    return _report(out, describe_store(store), health)


def _report(out: TextIO, where: str, health: Health) -> int:
    data: dict[str, Any] = {"store": where, **health.to_dict()}
    out.write(json.dumps(data, indent=2) + "\n")
    return EXIT_OK if health.ok else EXIT_UNHEALTHY
