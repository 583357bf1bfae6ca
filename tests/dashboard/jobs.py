"""Importable job functions for the dashboard tests (durable stores keep import paths)."""

from __future__ import annotations

XSS = "<script>alert(1)</script>"


def tidy() -> None:
    return None


def explode() -> None:
    raise ValueError(f"bad row {XSS}")
