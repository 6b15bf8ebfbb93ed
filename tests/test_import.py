"""Importing cxcore stays light: heavy and optional libraries load on first use only."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import cxcore


def test_import_does_not_load_heavy_libraries():
    """`import cxcore` loads no numpy, pandas, twilio, aiosmtplib, jinja2 or test tools."""
    heavy = ["numpy", "pandas", "polars", "twilio", "aiosmtplib", "jinja2", "hypothesis", "pytest"]
    code = f"import sys, cxcore; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_public_api_is_explicit_and_sorted():
    """Every name in __all__ exists, and the list is sorted."""
    names = [n for n in cxcore.__all__ if n != "__version__"]
    assert all(hasattr(cxcore, n) for n in names)
    assert cxcore.__all__ == sorted(cxcore.__all__, key=lambda n: (not n.isupper(), n))


def test_version_comes_from_the_installed_metadata():
    """__version__ is read from the distribution, never a literal."""
    assert cxcore.__version__ == version("cxcore")
