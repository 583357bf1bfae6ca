"""Benchmarks of ``scheduler`` against APScheduler, ``schedule`` and a floor (see README.md)."""
