"""``scheduler.dashboard.__all__`` lists exactly its public names (the lead's and dash-web's
contract), and the package ships its templates and stylesheet."""

from __future__ import annotations

import types
from importlib import resources

import scheduler.dashboard as dashboard


def test_all_is_sorted_and_complete() -> None:
    public = [name for name, value in vars(dashboard).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)
              and name != "annotations"]
    assert sorted(dashboard.__all__, key=str.lower) == sorted(public, key=str.lower)
    assert len(set(dashboard.__all__)) == len(dashboard.__all__)


def test_templates_and_stylesheet_are_package_data() -> None:
    root = resources.files("scheduler.dashboard")
    names = {p.name for p in root.joinpath("templates").iterdir()}
    assert {"base.html", "overview.html", "job.html", "runs.html", "error.html"} <= names
    assert dashboard.stylesheet().startswith(b"/* threadcron dashboard")
