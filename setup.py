# Metadata lives in setup.cfg; this shim lets old tools run `setup.py`.
from setuptools import setup

setup()
