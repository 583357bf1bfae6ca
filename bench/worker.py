"""Runs one (system, scenario) and prints one JSON line: ``{"system", "scenario", "metrics"}``.

Run by ``bench/run.py`` in the bench venv, from the repository root::

    .bench-venv/bin/python -m bench.worker --system scheduler --scenario lateness [--quick]

Every scenario runs in a fresh process, so memory and import numbers are that system's alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import traceback

from . import jobs


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds() -> float:
    """CPU time of this process, all threads (nanosecond clock; os.times() ticks at 10 ms,
    too coarse for 0.1 % of a core over 10 s)."""
    return time.process_time()


def wait_until(predicate, deadline: float, step: float = 0.002) -> bool:
    while not predicate():
        if time.time() > deadline:
            return False
        time.sleep(step)
    return True


# -- scenarios on the scheduling systems ----------------------------------------------------
def lateness(system: str, quick: bool) -> dict:
    """200 one-off jobs at distinct instants spread over ~4 s, registered after start() in
    random order; each records time.time() when it starts."""
    from .systems import load

    n, span = 200, (2.0 if quick else 4.0)
    rng = random.Random(1)
    adapter = load(system)
    adapter.start()
    first = time.time() + 1.0
    slot = span / n
    times = [first + i * slot + rng.uniform(0, slot / 2) for i in range(n)]
    order = list(range(n))
    rng.shuffle(order)
    for i in order:
        adapter.add_once(jobs.record, times[i], i)
    wait_until(lambda: len(jobs.STARTS) >= n, times[-1] + 5.0)
    late = [(started - times[i]) * 1000 for i, started in jobs.STARTS]
    adapter.shutdown()
    if len(late) < n:
        raise RuntimeError(f"only {len(late)} of {n} jobs ran")
    return {
        "p50_ms": pct(late, 50),
        "p99_ms": pct(late, 99),
        "max_ms": max(late),
        "min_ms": min(late),
    }


def idle(system: str, quick: bool, n: int) -> dict:
    """Register ``n`` interval jobs (every hour, so none is due) on a started scheduler,
    then sit idle: registration time, RSS growth per job, CPU burnt over the idle window.

    ``#registered`` is printed when the window starts: the driver starts the next system then,
    so windows overlap but registrations and RSS readings never do (an idle process's own CPU
    time is what is measured, which another process's work does not add to)."""
    from .systems import load

    window = 3.0 if quick else 10.0
    adapter = load(system)
    adapter.start()
    time.sleep(0.2)
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    for i in range(n):
        adapter.add_interval(jobs.noop, 3600.0, i)
    registration = time.perf_counter() - t0
    time.sleep(0.5)  # let the loop thread take in what was added
    gc.collect()
    rss1 = rss_bytes()
    print("#registered", flush=True)
    cpu0, w0 = cpu_seconds(), time.perf_counter()
    time.sleep(window)
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - w0
    adapter.shutdown()
    return {
        "register_s": registration,
        "rss_per_job_B": (rss1 - rss0) / n,
        "idle_cpu_pct": cpu / wall * 100,
    }


#: registration of the scale scenario stops here (seconds); a system that has not registered
#: every job by then is reported with the count it reached
SCALE_LIMIT = 240.0


def scale(system: str, quick: bool) -> dict:
    """1,000,000 interval jobs (200,000 with --quick), every hour, on one host: registration
    time (given up after :data:`SCALE_LIMIT` s, saying how far it got), RSS, idle CPU.

    No shutdown: tearing down a million jobs is not what is measured, and the worker process
    exits right after printing."""
    from .systems import load

    n = 200_000 if quick else 1_000_000
    window = 3.0 if quick else 10.0
    adapter = load(system)
    adapter.start()
    time.sleep(0.2)
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    registered = 0
    for i in range(n):
        adapter.add_interval(jobs.noop, 3600.0, i)
        registered = i + 1
        if not i % 10_000 and time.perf_counter() - t0 > SCALE_LIMIT:
            break
    registration = time.perf_counter() - t0
    time.sleep(0.5)
    gc.collect()
    rss1 = rss_bytes()
    cpu0, w0 = cpu_seconds(), time.perf_counter()
    time.sleep(window)
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - w0
    return {
        "register_s": registration,
        "registered": registered,
        "finished": registered == n,
        "jobs": n,
        "rss_MB": rss1 / 2**20,
        "rss_per_job_B": (rss1 - rss0) / registered,
        "idle_cpu_pct": cpu / wall * 100,
    }


def burst(system: str, quick: bool) -> dict:
    """20,000 one-off jobs all due at the same instant T, trivial work: time from T until
    the last one has started (and, as a job is one append, finished)."""
    from .systems import load

    n = 5000 if quick else 20000
    margin = 2.0 if quick else 4.0  # APScheduler needs up to ~3 s to add 20,000 on a busy machine
    adapter = load(system)
    adapter.start()
    due = time.time() + margin
    t0 = time.perf_counter()
    for i in range(n):
        adapter.add_once(jobs.tick, due, i, no_grace_limit=True)
    registration = time.perf_counter() - t0
    overran = time.time() > due
    ok = wait_until(lambda: len(jobs.STARTS) >= n, due + 120.0, 0.001)
    adapter.shutdown()
    if not ok:
        raise RuntimeError(f"only {len(jobs.STARTS)} of {n} jobs ran within 120 s")
    starts = jobs.STARTS
    return {
        "all_ran_s": max(starts) - due,
        "first_ms": (min(starts) - due) * 1000,
        "register_s": registration,
        "registration_overran": overran,
    }


def shutdown(system: str, quick: bool) -> dict:
    """8 running jobs that look at their cancel event every 50 ms: time for shutdown(wait=True)
    to return. Systems without a cancel event get a shared one, set just before shutdown() and
    timed with it (what their users must write)."""
    from .systems import load

    adapter = load(system)
    adapter.start()
    at = time.time() + 0.3
    for i in range(8):
        adapter.add_once(jobs.long_job, at, i)
    for _ in range(8):
        if not jobs.RUNNING.acquire(timeout=5.0):
            raise RuntimeError("the 8 jobs did not all start")
    time.sleep(0.2)
    t0 = time.perf_counter()
    if not adapter.cancel_is_native:
        jobs.SHARED_CANCEL.set()
    clean = adapter.shutdown()
    elapsed = time.perf_counter() - t0
    ended = sum(jobs.ENDED.acquire(timeout=0) for _ in range(8))
    return {"shutdown_ms": elapsed * 1000, "jobs_ended": ended, "clean": bool(clean)}


IMPORTS = {
    "scheduler": "from scheduler import Scheduler",
    "apscheduler": "from apscheduler.schedulers.background import BackgroundScheduler",
    "schedule": "import schedule",
    "floor": "import heapq, threading, concurrent.futures",
}


def import_time(system: str, quick: bool) -> dict:
    """Wall time of ``python -c "<import>"`` minus ``python -c pass``, alternated, median;
    plus ``-X importtime``'s cumulative microseconds for the imports (median)."""
    reps = 5 if quick else 9
    stmt = IMPORTS[system]
    base, full, cumulative = [], [], []
    # Python reads any non-empty PYTHONDONTWRITEBYTECODE (even "0") as "do not write": unset
    # it, or a tree without .pyc files (a --commit snapshot) is compiled on every import
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", stmt], check=True, env=env)  # warm the .pyc cache
    for _ in range(reps):
        for target, code in ((base, "pass"), (full, stmt)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
            target.append(time.perf_counter() - t0)
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", stmt],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        ).stderr
        cumulative.append(_importtime_total(out))
    return {
        "import_ms": (statistics.median(full) - statistics.median(base)) * 1000,
        "importtime_ms": statistics.median(cumulative) / 1000,
    }


def _importtime_total(stderr: str) -> float:
    """Sum of the cumulative microseconds of the top-level imports after ``site`` (those the
    statement triggered; the interpreter's own startup imports come before it)."""
    total, started = 0.0, False
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        _self_us, cum_us, name = line[len("import time:") :].split("|")
        if not name.startswith("  "):  # one space after the bar marks a top-level import
            if name.strip() == "site":
                started = True
            elif started:
                total += float(cum_us)
    return total


# -- cron arithmetic ---------------------------------------------------------------------------
def cron(system: str, quick: bool) -> dict:
    """100,000 next-fire computations (20,000 with --quick), each from its own start instant,
    over the expressions the system supports. The ``scheduler`` run also times itself on each
    anchor's subset, so ratios compare like with like."""
    from . import cronmix

    total = 20000 if quick else 100000
    exprs, next_fire = cronmix.make(system)
    metrics = {"us_per_next": _time_cron(exprs, next_fire, total), "expressions": len(exprs)}
    if system == "scheduler":
        index = {e: k for k, e in enumerate(exprs)}
        for anchor in ("apscheduler", "croniter", "cronsim"):
            subset = _supported(anchor)
            metrics[f"us_on_{anchor}_subset"] = _time_cron(
                subset, lambda k, dt, s=subset: next_fire(index[s[k]], dt), total
            )
    else:
        metrics["supported"] = exprs
    return metrics


def _supported(anchor: str) -> list[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from bench import cronmix; "
            f"print(json.dumps(cronmix.make({anchor!r})[0]))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def _time_cron(exprs: list[str], next_fire, total: int) -> float:
    from . import cronmix

    per = max(1, total // len(exprs))
    dts = cronmix.starts(per)
    pairs = [(k, dt) for dt in dts for k in range(len(exprs))]
    gc.collect()
    t0 = time.perf_counter()
    for k, dt in pairs:
        next_fire(k, dt)
    return (time.perf_counter() - t0) / len(pairs) * 1e6


def cron_agree(system: str, quick: bool) -> dict:
    """Ours against croniter and cronsim (same instants, compared in UTC) where no DST
    transition lies between the start and either answer; disagreements are listed."""
    from datetime import timedelta, timezone
    from zoneinfo import ZoneInfo

    from . import cronmix

    tz = ZoneInfo(cronmix.ZONE)
    # the zone's transitions over the span (and a year beyond, for far-off answers)
    transitions = []
    t = cronmix.datetime(2024, 12, 1, tzinfo=timezone.utc)
    prev = t.astimezone(tz).utcoffset()
    while t.year < 2031:
        t += timedelta(hours=1)
        off = t.astimezone(tz).utcoffset()
        if off != prev:
            transitions.append(t)
            prev = off

    def dst_between(a, b) -> bool:
        lo, hi = min(a, b), max(a, b)
        return any(lo - timedelta(hours=3) <= x <= hi + timedelta(hours=3) for x in transitions)

    ours_exprs, ours_next = cronmix.make("scheduler")
    index = {e: k for k, e in enumerate(ours_exprs)}
    dts = cronmix.starts(300 if quick else 2000, seed=11)
    report: dict = {}
    for anchor in ("croniter", "cronsim"):
        exprs, their_next = cronmix.make(anchor)
        compared = skipped = 0
        bad: list[str] = []
        for k, expr in enumerate(exprs):
            for dt in dts:
                mine = ours_next(index[expr], dt)
                theirs = their_next(k, dt)
                if (
                    mine is None
                    or theirs is None
                    or dst_between(dt, mine)
                    or dst_between(dt, theirs)
                ):
                    skipped += 1
                    continue
                compared += 1
                if mine.astimezone(timezone.utc) != theirs.astimezone(timezone.utc):
                    if len(bad) < 10:
                        bad.append(
                            f"{expr!r} after {dt.isoformat()}: ours {mine.isoformat()}, "
                            f"{anchor} {theirs.isoformat()}"
                        )
                    else:
                        bad.append("")
        report[f"{anchor}_compared"] = compared
        report[f"{anchor}_skipped_dst"] = skipped
        report[f"{anchor}_disagree"] = len(bad)
        report[f"{anchor}_examples"] = [b for b in bad if b]
        report[f"{anchor}_expressions"] = exprs
    return report


SCENARIOS = {
    "lateness": lateness,
    "idle-10k": lambda s, q: idle(s, q, 2000 if q else 10000),
    "idle-100k": lambda s, q: idle(s, q, 20000 if q else 100000),
    "burst": burst,
    "scale-1m": scale,
    "shutdown": shutdown,
    "import": import_time,
    "cron": cron,
    "cron-agree": cron_agree,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = {"system": args.system, "scenario": args.scenario}
    try:
        if args.scenario.startswith("store-"):
            from .storebench import run as run_store

            result["metrics"] = run_store(args.scenario, args.quick)
        else:
            result["metrics"] = SCENARIOS[args.scenario](args.system, args.quick)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    print(json.dumps(result), flush=True)
    # pool threads of a system that failed to shut down must not keep us alive
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
