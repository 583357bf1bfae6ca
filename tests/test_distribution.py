"""The distribution is ``threadcron`` (PyPI's ``scheduler`` is another project), and
``--version`` says which one is installed (#9)."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from scheduler import cli

ROOT = Path(__file__).resolve().parent.parent


def test_the_distribution_is_named_threadcron() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["name"] == "threadcron"


def test_no_install_line_or_hint_names_pypis_scheduler() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "scheduler").rglob("*.py")),
             *sorted((ROOT / "examples").rglob("*.py"))]  # fmt: skip
    wrong = re.compile(r"pip install\s+['\"]?scheduler\[")  # our extras, their name
    offenders = [str(p.relative_to(ROOT)) for p in texts if wrong.search(p.read_text())]
    assert offenders == []
    readme = (ROOT / "README.md").read_text()
    assert 'pip install "threadcron[postgres]"' in readme
    assert "DigonIO" in readme  # says plainly that PyPI's `scheduler` is someone else's


def test_version_prints_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"threadcron {metadata.version('threadcron')}\n"


def test_python_dash_m_scheduler_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "--version"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"threadcron {metadata.version('threadcron')}"


def test_version_when_not_installed_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("threadcron: version unknown (the distribution is not installed")
    assert str(ROOT / "scheduler") in out
