from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Hypothesis profiles. Locally each run draws new examples (and replays failures kept in
# .hypothesis/). Under CI=true the "ci" profile derandomizes: every run draws the same
# examples from a fixed seed and keeps no example database, so a run either catches a bug or
# does not, every time. Each property test sets its own max_examples, enough to catch the
# bugs its docstring names under this profile. `pytest --hypothesis-profile=ci` selects it.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or os.environ.get("SCHEDULER_RUN_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow (or SCHEDULER_RUN_SLOW=1) to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
