"""One adapter per system, all with the same small surface the scenarios drive.

``start()``; ``add_once(func, at, i, no_grace_limit)`` runs ``func(i)`` once at epoch second ``at``
(with the system's default misfire grace, or none at all);
``add_interval(func, seconds, i)`` every ``seconds`` (first run one interval from now);
``shutdown()`` waits for running jobs; ``cancel_is_native`` says whether the system hands jobs a
cancel event (else the harness sets a shared one right before ``shutdown()``).
"""

from __future__ import annotations

import importlib

NAMES = {
    "scheduler": "bench.systems.ours",
    "apscheduler": "bench.systems.aps",
    "schedule": "bench.systems.schedule_lib",
    "floor": "bench.systems.floor",
}


def load(name: str):
    """A fresh adapter for system ``name``."""
    return importlib.import_module(NAMES[name]).Adapter()
