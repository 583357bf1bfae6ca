from __future__ import annotations

import os

import pytest


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
