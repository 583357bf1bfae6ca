"""The cron scenario: a fixed mix of expressions, the start instants, and each system's
way of computing one next fire time.

Each expression carries the APScheduler 3 ``CronTrigger`` fields that mean the same thing,
or None where APScheduler cannot say it (``W``; a rule that restricts both day fields, which
cron ORs and APScheduler ANDs). croniter and cronsim get the expressions they accept: which
those are is found by trying, and printed with the results.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

ZONE = "Europe/Bratislava"

#: (cron expression, APScheduler CronTrigger kwargs or None, what it exercises)
MIX: list[tuple[str, dict | None, str]] = [
    ("*/15 * * * *", {"minute": "*/15"}, "step, wildcard (DST: elapsed time)"),
    ("0 3 * * *", {"minute": 0, "hour": 3}, "fixed daily"),
    ("30 2 * * *", {"minute": 30, "hour": 2}, "fixed, in the skipped/repeated hour"),
    (
        "0 9-17/2 * * mon-fri",
        {"minute": 0, "hour": "9-17/2", "day_of_week": "mon-fri"},
        "range step, day names",
    ),
    ("5,35 */4 * * *", {"minute": "5,35", "hour": "*/4"}, "list, step"),
    (
        "*/10 1-3 * * sun",
        {"minute": "*/10", "hour": "1-3", "day_of_week": "sun"},
        "wildcard minute through the DST hours",
    ),
    ("0 0 L * *", {"minute": 0, "hour": 0, "day": "last"}, "L: last day of month"),
    ("0 12 LW * *", None, "LW: last weekday of month"),
    ("0 8 15W * *", None, "W: weekday nearest the 15th"),
    ("0 10 * * 5#3", {"minute": 0, "hour": 10, "day": "3rd fri"}, "#: third Friday"),
    ("0 18 * * 5L", {"minute": 0, "hour": 18, "day": "last fri"}, "5L: last Friday"),
    (
        "0 0 1 jan,apr,jul,oct *",
        {"minute": 0, "hour": 0, "day": 1, "month": "jan,apr,jul,oct"},
        "month names",
    ),
    ("0 6 1-7 * mon", None, "both day fields: cron ORs them"),
    ("0 0 29 2 *", {"minute": 0, "hour": 0, "day": 29, "month": 2}, "leap day (rare)"),
    (
        "15 2 * mar,oct sun",
        {"minute": 15, "hour": 2, "month": "mar,oct", "day_of_week": "sun"},
        "fixed, on the DST Sundays",
    ),
    ("0 22 * * sat,sun", {"minute": 0, "hour": 22, "day_of_week": "sat,sun"}, "weekend list"),
]

SYSTEMS = ("scheduler", "apscheduler", "croniter", "cronsim")


def starts(count: int, seed: int = 5) -> list[datetime]:
    """``count`` instants spread over 2025-2028, aware in the benchmark zone."""
    rng = random.Random(seed)
    tz = ZoneInfo(ZONE)
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    span = 4 * 365 * 86400
    return [(base + timedelta(seconds=rng.randrange(span))).astimezone(tz) for _ in range(count)]


def make(system: str):
    """``(supported expressions, next_fire(index, start))`` for ``system``: index points
    into the supported list; objects are built once, as a long-running app keeps them."""
    tz = ZoneInfo(ZONE)
    if system == "scheduler":
        from scheduler.triggers.cron import Cron

        exprs, objs = [], []
        for expr, _, _ in MIX:
            exprs.append(expr)
            objs.append(Cron(expr, timezone=tz))
        return exprs, lambda k, dt: objs[k].next_after(dt)
    if system == "apscheduler":
        from apscheduler.triggers.cron import CronTrigger

        exprs, objs = [], []
        for expr, fields, _ in MIX:
            if fields is not None:
                exprs.append(expr)
                objs.append(CronTrigger(timezone=tz, **fields))
        return exprs, lambda k, dt: objs[k].get_next_fire_time(None, dt)
    if system == "croniter":
        from croniter import croniter

        exprs, objs = [], []
        probe = datetime(2026, 1, 1, tzinfo=tz)
        for expr, _, _ in MIX:
            try:
                it = croniter(expr, probe)
                it.get_next(datetime)
            except Exception:
                continue
            exprs.append(expr)
            objs.append(it)

        def croniter_next(k: int, dt: datetime) -> datetime:
            it = objs[k]
            it.set_current(dt, force=True)
            return it.get_next(datetime)

        return exprs, croniter_next
    if system == "cronsim":
        from cronsim import CronSim

        exprs = []
        probe = datetime(2026, 1, 1, tzinfo=tz)
        for expr, _, _ in MIX:
            try:
                next(CronSim(expr, probe))
            except Exception:
                continue
            exprs.append(expr)
        # cronsim's API is an iterator built from (expression, start): it parses each time
        return exprs, lambda k, dt: next(CronSim(exprs[k], dt))
    raise ValueError(system)
