#!/usr/bin/env python3
"""Benchmark ``scheduler`` against APScheduler 3.11, ``schedule`` and a floor, side by side.

    python bench/run.py [--rounds 5] [--quick] [--only SCENARIO[,SCENARIO]] [--systems a,b]
                        [--commit REV]

Standard library only. It creates (or reuses) ``.bench-venv/`` at the repository root with the
anchors and this project installed editable with its ``postgres,redis`` extras; the anchors
never become dependencies of the project. Each (system, scenario) runs in its own process
(``python -m bench.worker``); systems take turns within every round, starting one further on
each round, so drift of the machine hits all of them alike. The table of medians and ratios is
printed and written to ``bench/RESULTS.md`` (``bench/.last-run.md`` for ``--quick`` or
``--only`` runs, so a partial run never replaces the record). See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench-venv"
PY = VENV / "bin" / "python"
ANCHORS = ["apscheduler>=3.11,<4", "schedule", "croniter", "cronsim", "pyinstrument", "py-spy"]

RUNNERS = ["scheduler", "apscheduler", "schedule", "floor"]
CRONS = ["scheduler", "apscheduler", "croniter", "cronsim"]
STORES = [
    *(
        f"store-{b}-{n}"
        for b in ("memory", "sqlite", "postgresql", "redis")
        for n in (1, 4)
        if not (b == "memory" and n == 4)
    ),
    *(f"store-{b}-3shared" for b in ("sqlite", "postgresql", "redis")),
    *(f"store-{b}-10k" for b in ("sqlite", "postgresql")),
]

#: (scenario, systems, most rounds it needs): pure CPU work (cron), the smaller idle size and
#: the stores (ours only, nothing to interleave with) run at most 3 rounds, the deterministic
#: check once; that keeps a 5-round run near 10 minutes
PLAN: list[tuple[str, list[str], int]] = [
    ("lateness", RUNNERS, 99),
    ("burst", RUNNERS, 99),
    ("shutdown", RUNNERS, 99),
    ("import", RUNNERS, 99),
    ("cron", CRONS, 3),
    ("idle-10k", RUNNERS, 3),
    ("idle-100k", RUNNERS, 99),
    ("scale-1m", ["scheduler", "apscheduler"], 1),
    *[(s, ["scheduler"], 3) for s in STORES],
    ("cron-agree", ["scheduler"], 1),
]

TIMEOUT = 300  # seconds for one worker process
#: scenarios that need longer (registration is cut at 240 s, see bench/worker.py)
TIMEOUTS = {"scale-1m": 420}

#: where workers run: the repository root (the work tree), or a snapshot made by --commit
WORKDIR = ROOT
SOURCE = "work tree"


# -- the venv -------------------------------------------------------------------------------
def ensure_venv() -> None:
    """Create .bench-venv and install into it, unless the stamp says it is current."""
    stamp_file = VENV / "bench-stamp.json"
    setup_cfg = (ROOT / "setup.cfg").read_bytes()
    stamp = {"anchors": ANCHORS, "setup.cfg": hashlib.sha256(setup_cfg).hexdigest()}
    if PY.exists() and stamp_file.exists():
        try:
            if json.loads(stamp_file.read_text()) == stamp:
                return
        except ValueError:
            pass
    if not PY.exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    log("installing the anchors and this project (editable, postgres+redis extras)")
    subprocess.run([*pip, *ANCHORS], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[postgres,redis]"], check=True)
    stamp_file.write_text(json.dumps(stamp))


# -- running --------------------------------------------------------------------------------
def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def worker_cmd(system: str, scenario: str, quick: bool) -> list[str]:
    cmd = [str(PY), "-m", "bench.worker", "--system", system, "--scenario", scenario]
    return [*cmd, "--quick"] if quick else cmd


def parse(system: str, scenario: str, stdout: str, stderr: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"system": system, "scenario": scenario, "error": f"worker failed: {tail}"}
    result = json.loads(lines[-1])
    if "error" in result:
        log(stderr.strip()[-2000:])
    return result


def snapshot(rev: str) -> tuple[Path, str]:
    """``scheduler/`` as of ``rev`` (read with ``git archive``, nothing in the repository
    changes) beside a copy of the current ``bench/``, in a temporary directory. Workers run
    there, so ``import scheduler`` finds the snapshot before the editable install."""
    import shutil
    import tempfile

    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    where = Path(tempfile.mkdtemp(prefix=f"bench-{commit}-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "scheduler"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    shutil.copytree(
        ROOT / "bench",
        where / "bench",
        ignore=shutil.ignore_patterns("__pycache__", "profiles", ".last-run*"),
    )
    return where, commit


def run_one(system: str, scenario: str, quick: bool) -> dict:
    try:
        proc = subprocess.run(
            worker_cmd(system, scenario, quick),
            cwd=WORKDIR,
            capture_output=True,
            text=True,
            timeout=TIMEOUTS.get(scenario, TIMEOUT),
        )
    except subprocess.TimeoutExpired:
        limit = TIMEOUTS.get(scenario, TIMEOUT)
        return {"system": system, "scenario": scenario, "error": f"timed out after {limit} s"}
    return parse(system, scenario, proc.stdout, proc.stderr)


def run_staggered(systems: list[str], scenario: str, quick: bool) -> list[dict]:
    """Idle scenarios: start each system once the previous one has registered its jobs and
    begun its idle window, so registrations never overlap but the windows do."""
    procs = []
    for system in systems:
        proc = subprocess.Popen(
            worker_cmd(system, scenario, quick),
            cwd=WORKDIR,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        head = []
        for line in proc.stdout:  # until the window starts (or the worker ends)
            head.append(line)
            if line.startswith("#registered") or line.startswith("{"):
                break
        procs.append((system, proc, head))
    results = []
    for system, proc, head in procs:
        try:
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results.append(
                {"system": system, "scenario": scenario, "error": f"timed out after {TIMEOUT} s"}
            )
            continue
        results.append(parse(system, scenario, "".join(head) + stdout, stderr))
    return results


def selected(args: argparse.Namespace) -> list[tuple[str, list[str], int]]:
    plan = PLAN
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        plan = [
            p
            for p in plan
            if any(
                p[0] == w
                or p[0].startswith(w + "-")
                or (w == "stores" and p[0].startswith("store-"))
                or (w == "idle" and p[0].startswith("idle-"))
                for w in wanted
            )
        ]
        if not plan:
            sys.exit(
                f"--only {args.only!r} matches no scenario; scenarios: "
                + ", ".join(p[0] for p in PLAN)
                + " (groups: idle, stores)"
            )
    if args.systems:
        keep = set(args.systems.split(","))
        plan = [(s, [x for x in systems if x in keep], n) for s, systems, n in plan]
        plan = [p for p in plan if p[1]]
    return plan


def run_all(args: argparse.Namespace) -> dict[tuple[str, str], list[dict]]:
    results: dict[tuple[str, str], list[dict]] = {}
    plan = selected(args)
    for r in range(args.rounds):
        for scenario, systems, max_rounds in plan:
            if r >= max_rounds:
                continue
            k = r % len(systems)
            order = systems[k:] + systems[:k]  # a different system goes first each round
            if scenario.startswith("idle-"):
                batch = run_staggered(order, scenario, args.quick)
            else:
                batch = [run_one(system, scenario, args.quick) for system in order]
            for system, result in zip(order, batch, strict=False):
                results.setdefault((scenario, system), []).append(result)
                summary = result.get("error") or ", ".join(
                    f"{key}={fmt(val)}"
                    for key, val in result["metrics"].items()
                    if isinstance(val, (int, float)) and not isinstance(val, bool)
                )
                log(f"[round {r + 1}/{args.rounds}] {scenario:<20} {system:<12} {summary}")
    return results


# -- reporting ------------------------------------------------------------------------------
def fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        a = abs(value)
        if a == 0:
            return "0"
        if a >= 1000:
            return f"{value:,.0f}"
        if a >= 100:
            return f"{value:.0f}"
        if a >= 10:
            return f"{value:.1f}"
        if a >= 1:
            return f"{value:.2f}"
        if a >= 0.01:
            return f"{value:.3f}"
        return f"{value:.2g}"
    return str(value)


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def median_of(results: dict, scenario: str, system: str, metric: str) -> float | None:
    values = [
        r["metrics"][metric]
        for r in results.get((scenario, system), [])
        if "metrics" in r and isinstance(r["metrics"].get(metric), (int, float))
    ]
    return statistics.median(values) if values else None


def error_of(results: dict, scenario: str, system: str) -> str | None:
    runs = results.get((scenario, system), [])
    errors = [r["error"] for r in runs if "error" in r]
    if runs and len(errors) == len(runs):
        return errors[-1]
    return None


METRIC_NAMES = {
    "p50_ms": "p50 (ms)",
    "p99_ms": "p99 (ms)",
    "max_ms": "max (ms)",
    "register_s": "registration (s)",
    "rss_per_job_B": "RSS per job (bytes)",
    "idle_cpu_pct": "idle CPU (% of a core)",
    "all_ran_s": "all ran after (s)",
    "first_ms": "first started after (ms)",
    "shutdown_ms": "shutdown(wait=True) (ms)",
    "import_ms": "python -c import - python -c pass (ms)",
    "importtime_ms": "-X importtime cumulative (ms)",
    "registered": "jobs registered",
    "rss_MB": "RSS of the process (MB)",
}

TABLES = [
    (
        "1. Dispatch lateness: 200 one-off jobs over 4 s, start - scheduled",
        "lateness",
        ["p50_ms", "p99_ms", "max_ms"],
    ),
    (
        "2a. Idle scale: 10,000 interval jobs not due (idle window 10 s; --quick: 2,000 and 3 s)",
        "idle-10k",
        ["register_s", "rss_per_job_B", "idle_cpu_pct"],
    ),
    (
        "2b. Idle scale: 100,000 interval jobs not due (--quick: 20,000)",
        "idle-100k",
        ["register_s", "rss_per_job_B", "idle_cpu_pct"],
    ),
    (
        "3. Burst: 20,000 one-off jobs due at one instant, trivial work",
        "burst",
        ["all_ran_s", "first_ms", "register_s"],
    ),
    (
        "2c. Scale: 1,000,000 interval jobs on one host (once; --quick: 200,000), "
        "registration given up after 240 s",
        "scale-1m",
        ["registered", "register_s", "rss_MB", "rss_per_job_B", "idle_cpu_pct"],
    ),
    ("5. Shutdown: 8 running jobs polling a cancel event every 50 ms", "shutdown", ["shutdown_ms"]),
    ("6. Import time", "import", ["import_ms", "importtime_ms"]),
]


def report(results: dict, args: argparse.Namespace, argv: list[str], took: float) -> str:
    out: list[str] = ["# Benchmark results", ""]
    out += machine(argv, args, took)
    anchors = [s for s in RUNNERS if s != "scheduler"]
    for title, scenario, metrics in TABLES:
        if not any((scenario, s) in results for s in RUNNERS):
            continue
        out += [
            f"## {title}",
            "",
            "| metric | "
            + " | ".join(RUNNERS)
            + " | "
            + " | ".join(f"scheduler / {a}" for a in anchors)
            + " |",
            "|---" * (1 + len(RUNNERS) + len(anchors)) + "|",
        ]
        for metric in metrics:
            ours = median_of(results, scenario, "scheduler", metric)
            cells = []
            for s in RUNNERS:
                err = error_of(results, scenario, s)
                cells.append("error" if err else fmt(median_of(results, scenario, s, metric)))
            ratios = [ratio(ours, median_of(results, scenario, a, metric)) for a in anchors]
            out.append(
                f"| {METRIC_NAMES.get(metric, metric)} | "
                + " | ".join(cells)
                + " | "
                + " | ".join(ratios)
                + " |"
            )
        out += [*notes_for(results, scenario), ""]
    out += cron_table(results)
    out += store_table(results)
    out += agreement(results)
    out += targets(results)
    return "\n".join(out) + "\n"


def notes_for(results: dict, scenario: str) -> list[str]:
    notes = []
    for (sc, system), runs in sorted(results.items()):
        if sc != scenario:
            continue
        err = error_of(results, sc, system)
        if err:
            notes.append(f"- {system}: {err}")
        if any(r.get("metrics", {}).get("registration_overran") for r in runs):
            notes.append(f"- {system}: registration ran past the due instant in some round")
        for r in runs:
            m = r.get("metrics", {})
            if m.get("finished") is False:
                notes.append(
                    f"- {system}: did not finish: {m['registered']:,} of {m['jobs']:,} jobs "
                    f"registered when the limit ({fmt(m['register_s'])} s) was reached"
                )
        if sc == "shutdown":
            bad = [
                r["metrics"]
                for r in runs
                if "metrics" in r and (r["metrics"]["jobs_ended"] != 8 or not r["metrics"]["clean"])
            ]
            if bad:
                notes.append(f"- {system}: not all 8 jobs ended cleanly in {len(bad)} round(s)")
    return (["", *notes]) if notes else []


def cron_table(results: dict) -> list[str]:
    if not any(("cron", s) in results for s in CRONS):
        return []
    out = [
        "## 4. Cron arithmetic: next fire after 100,000 start instants, Europe/Bratislava",
        "",
        "Each system gets the expressions of the mix it supports (`bench/cronmix.py`); "
        "`scheduler` is timed on the whole mix and again on each anchor's subset, and the "
        "ratio compares the two on the same subset.",
        "",
        "| system | expressions | µs per next fire | scheduler on the same subset (µs) "
        "| scheduler / system |",
        "|---|---|---|---|---|",
    ]
    ours_all = median_of(results, "cron", "scheduler", "us_per_next")
    n_all = median_of(results, "cron", "scheduler", "expressions")
    out.append(f"| scheduler | {fmt(n_all)} (all) | {fmt(ours_all)} | | |")
    for anchor in CRONS[1:]:
        err = error_of(results, "cron", anchor)
        if err:
            out.append(f"| {anchor} | error: {err} | | | |")
            continue
        theirs = median_of(results, "cron", anchor, "us_per_next")
        mine = median_of(results, "cron", "scheduler", f"us_on_{anchor}_subset")
        n = median_of(results, "cron", anchor, "expressions")
        out.append(f"| {anchor} | {fmt(n)} | {fmt(theirs)} | {fmt(mine)} | {ratio(mine, theirs)} |")
    missing = []
    from_mix = None
    for anchor in CRONS[1:]:
        runs = [r for r in results.get(("cron", anchor), []) if "metrics" in r]
        if runs:
            supported = set(runs[0]["metrics"].get("supported", []))
            if from_mix is None:
                from_mix = cron_mix_exprs()
            lacking = [e for e in from_mix if e not in supported]
            missing.append(f"- {anchor} lacks: " + ", ".join(f"`{e}`" for e in lacking))
    return (
        out
        + (["", *missing] if missing else [])
        + [
            "- cronsim's API builds a `CronSim(expression, start)` per computation, so its figure "
            "includes parsing; the others build their object once and reuse it "
            "(croniter via `set_current`).",
            "",
        ]
    )


def cron_mix_exprs() -> list[str]:
    out = subprocess.run(
        [
            str(PY),
            "-c",
            "import json; from bench import cronmix; "
            "print(json.dumps([m[0] for m in cronmix.MIX]))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def store_table(results: dict) -> list[str]:
    rows = [s for s in STORES if (s, "scheduler") in results]
    if not rows:
        return []
    out: list[str] = []

    def cell(s: str, metric: str) -> str:
        return fmt(median_of(results, s, "scheduler", metric))

    own = [s for s in rows if s.split("-")[2].isdigit()]
    if own:
        out += [
            "## 7a. Stores: claim + start + finish of distinct fires, a job per process",
            "",
            "| store | processes | fires/s (all processes) | claim p50 (ms) | claim p99 (ms) |",
            "|---|---|---|---|---|",
        ]
        for s in own:
            _, backend, procs = s.split("-")
            err = error_of(results, s, "scheduler")
            if err:
                out.append(f"| {backend} | {procs} | error: {err} | | |")
                continue
            out.append(
                f"| {backend} | {procs} | {cell(s, 'claims_per_s')} | {cell(s, 'p50_ms')}"
                f" | {cell(s, 'p99_ms')} |"
            )
        out.append("")
    shared = [s for s in rows if s.endswith("-3shared")]
    if shared:
        out += [
            "## 7b. Stores: 3 processes sharing one store and 10 jobs, each fire claimed by all",
            "",
            "| store | fires/s (settled, all processes) | claim calls/s "
            "| every fire exactly once |",
            "|---|---|---|---|",
        ]
        for s in shared:
            backend = s.split("-")[1]
            err = error_of(results, s, "scheduler")
            if err:
                out.append(f"| {backend} | error: {err} | | |")
                continue
            runs = [r for r in results[(s, "scheduler")] if "metrics" in r]
            once = all(r["metrics"]["exactly_once"] for r in runs)
            verdict = f"yes ({len(runs)} of {len(runs)} rounds)" if once else "**no**"
            out.append(
                f"| {backend} | {cell(s, 'fires_per_s')} | {cell(s, 'claim_calls_per_s')}"
                f" | {verdict} |"
            )
        out.append("")
    startup = [s for s in rows if s.endswith("-10k")]
    if startup:
        out += [
            "## 7c. Stores: a Scheduler with 10,000 interval jobs (hourly) on a durable store "
            "(--quick: 2,000)",
            "",
            "| store | start() (s) | start() again, rows present (s) "
            "| idle CPU (% of a core) |",
            "|---|---|---|---|",
        ]
        for s in startup:
            backend = s.split("-")[1]
            err = error_of(results, s, "scheduler")
            if err:
                out.append(f"| {backend} | error: {err} | | |")
                continue
            out.append(
                f"| {backend} | {cell(s, 'start_s')} | {cell(s, 'restart_s')}"
                f" | {cell(s, 'idle_cpu_pct')} |"
            )
        out.append("")
    return out


def store_targets(results: dict) -> list[str]:
    """The stores' rows of the targets table (issue 15)."""
    rows = []

    def at_least(target: str, scenario: str, limit: float) -> None:
        value = median_of(results, scenario, "scheduler", "claims_per_s")
        met = "-" if value is None else ("yes" if value >= limit else "**no**")
        rows.append(f"| {target} | {'-' if value is None else fmt(value) + ' /s'} | {met} |")

    at_least("SQLite, one process: claim + start + finish ≥ 10,000 fires/s", "store-sqlite-1",
             10_000)  # fmt: skip
    at_least("PostgreSQL, one process: claim + start + finish ≥ 1,500 fires/s",
             "store-postgresql-1", 1_500)  # fmt: skip
    for backend in ("sqlite", "postgresql", "redis"):
        runs = [
            r for r in results.get((f"store-{backend}-3shared", "scheduler"), []) if "metrics" in r
        ]
        if runs:
            once = all(r["metrics"]["exactly_once"] for r in runs)
            rows.append(
                f"| {backend}, 3 processes sharing it: every fire exactly once "
                f"| {sum(r['metrics']['exactly_once'] for r in runs)} of {len(runs)} rounds "
                f"| {'yes' if once else '**no**'} |"
            )
    return rows


def agreement(results: dict) -> list[str]:
    runs = [r for r in results.get(("cron-agree", "scheduler"), []) if "metrics" in r]
    if not runs:
        err = error_of(results, "cron-agree", "scheduler")
        return [f"## Cron agreement\n\nerror: {err}", ""] if err else []
    m = runs[0]["metrics"]
    out = [
        "## Cron agreement: `scheduler` against croniter and cronsim",
        "",
        "Same start instants, answers compared in UTC; pairs with a DST transition between "
        "the start and either answer (±3 h) are left out, as the libraries' DST rules "
        "differ on purpose.",
        "",
        "| against | compared | left out (DST) | disagreements |",
        "|---|---|---|---|",
    ]
    for anchor in ("croniter", "cronsim"):
        out.append(
            f"| {anchor} | {m[anchor + '_compared']:,} | {m[anchor + '_skipped_dst']:,} "
            f"| {m[anchor + '_disagree']:,} |"
        )
    for anchor in ("croniter", "cronsim"):
        for example in m[anchor + "_examples"]:
            out.append(f"- {example}")
    return [*out, ""]


def targets(results: dict) -> list[str]:
    def med(sc: str, sy: str, me: str) -> float | None:
        return median_of(results, sc, sy, me)

    def div(a, b):
        return None if a is None or b in (None, 0) else a / b

    rows = []

    def add(target: str, value: float | None, limit: float, unit: str = "x") -> None:
        shown = (
            "-" if value is None else (f"{value:.2f}x" if unit == "x" else f"{fmt(value)} {unit}")
        )
        met = "-" if value is None else ("yes" if value <= limit else "**no**")
        rows.append(f"| {target} | {shown} | {met} |")

    add(
        "lateness p99 ≤ 1.2x floor",
        div(med("lateness", "scheduler", "p99_ms"), med("lateness", "floor", "p99_ms")),
        1.2,
    )
    add(
        "idle CPU, 100,000 jobs < 0.1 % of a core",
        med("idle-100k", "scheduler", "idle_cpu_pct"),
        0.1,
        "%",
    )
    add(
        "registration of 100,000 ≥ 10x faster than APScheduler (ratio ≤ 0.10x)",
        div(
            med("idle-100k", "scheduler", "register_s"),
            med("idle-100k", "apscheduler", "register_s"),
        ),
        0.1,
    )
    add(
        "memory per job ≤ 0.5x APScheduler's",
        div(
            med("idle-100k", "scheduler", "rss_per_job_B"),
            med("idle-100k", "apscheduler", "rss_per_job_B"),
        ),
        0.5,
    )
    add(
        "burst ≥ 2.5x faster than APScheduler (ratio ≤ 0.40x)",
        div(med("burst", "scheduler", "all_ran_s"), med("burst", "apscheduler", "all_ran_s")),
        0.4,
    )
    cron_ratios = [
        div(med("cron", "scheduler", f"us_on_{a}_subset"), med("cron", a, "us_per_next"))
        for a in CRONS[1:]
    ]
    cron_ratios = [c for c in cron_ratios if c is not None]
    add(
        "cron ≥ 3x faster than the fastest anchor (worst ratio on their subsets ≤ 0.33x)",
        max(cron_ratios) if cron_ratios else None,
        1 / 3,
    )
    scale_runs = [r for r in results.get(("scale-1m", "scheduler"), []) if "metrics" in r]
    if scale_runs:
        m = scale_runs[-1]["metrics"]
        rows.append(
            f"| {m['jobs']:,} interval jobs registered within 240 s, idle CPU < 0.1 % of a core "
            f"| {fmt(m['register_s'])} s, {fmt(m['idle_cpu_pct'])} % "
            f"| {'yes' if m['finished'] and m['idle_cpu_pct'] < 0.1 else '**no**'} |"
        )
    add("shutdown ≤ 100 ms + 50 ms polling", med("shutdown", "scheduler", "shutdown_ms"), 150, "ms")
    add(
        "import ≤ 0.4x APScheduler's",
        div(med("import", "scheduler", "import_ms"), med("import", "apscheduler", "import_ms")),
        0.4,
    )
    rows += store_targets(results)
    return ["## Targets (issue 5)", "", "| target | measured | met |", "|---|---|---|", *rows, ""]


def machine(argv: list[str], args: argparse.Namespace, took: float) -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pyver = subprocess.run(
        [str(PY), "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    ).stdout.strip()
    versions = subprocess.run(
        [
            str(PY),
            "-c",
            "from importlib.metadata import version as v; "
            "print(', '.join(f'{p} {v(p)}' for p in "
            "('APScheduler', 'schedule', 'croniter', 'cronsim')))",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if SOURCE == "work tree":
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        source = f"the work tree at commit {commit}" + (" + uncommitted changes" if dirty() else "")
    else:
        source = f"commit {SOURCE} (a snapshot of scheduler/)"
    return [
        f"- command: `{' '.join(shlex.quote(a) for a in argv)}` ({args.rounds} round(s)"
        f"{', quick sizes' if args.quick else ''}; took {took / 60:.1f} min)",
        f"- machine: {os.cpu_count()} CPUs (`nproc` {nproc()}), {model}, "
        f"{platform.system()} {platform.release()}",
        f"- Python {pyver}; {versions}",
        f"- scheduler from {source}",
        f"- date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}; load "
        f"average at the "
        f"start {LOAD_AT_START[0]:.2f}, at the end {os.getloadavg()[0]:.2f} (other work on the "
        f"machine shows up as noise)",
        "- cells are medians over rounds; a ratio is scheduler's median / that system's "
        "median, so below 1.00x means scheduler is lower (better, for every metric here)",
        "",
    ]


LOAD_AT_START = os.getloadavg()


def dirty() -> bool:
    """Whether the scheduler package differs from the commit (benchmarks run the work tree)."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--", "scheduler", "setup.cfg"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    return bool(out.strip())


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds over every system (default 5; 1 with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and shorter windows (about 2 minutes)"
    )
    parser.add_argument(
        "--only",
        help="scenarios, comma-separated: lateness, burst, shutdown, "
        "import, cron, cron-agree, idle (idle-10k, idle-100k), scale (scale-1m), stores "
        "(store-sqlite-1, store-sqlite-3shared, store-sqlite-10k, ...)",
    )
    parser.add_argument("--systems", help="comma-separated subset of systems to run")
    parser.add_argument(
        "--out",
        help="where to write the markdown (default bench/RESULTS.md "
        "for a full run, bench/.last-run.md otherwise)",
    )
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="benchmark scheduler/ as of this commit (e.g. HEAD) instead of the "
        "work tree, which others may be editing",
    )
    parser.add_argument("--no-install", action="store_true", help="use .bench-venv as it is")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    argv = ["python", "bench/run.py", *sys.argv[1:]]
    if not args.no_install:
        ensure_venv()
    global WORKDIR, SOURCE
    if args.commit:
        WORKDIR, SOURCE = snapshot(args.commit)
        log(f"benchmarking scheduler/ of commit {SOURCE} from {WORKDIR}")
    t0 = time.perf_counter()
    results = run_all(args)
    text = report(results, args, argv, time.perf_counter() - t0)
    partial = args.quick or args.only or args.systems
    if WORKDIR != ROOT:
        import shutil

        shutil.rmtree(WORKDIR, ignore_errors=True)
    out = (
        Path(args.out)
        if args.out
        else ROOT / "bench" / (".last-run.md" if partial else "RESULTS.md")
    )
    out.write_text(text)
    (ROOT / "bench" / ".last-run.json").write_text(
        json.dumps([r for runs in results.values() for r in runs], indent=1)
    )
    print(text)
    log(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
