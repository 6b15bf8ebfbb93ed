"""The benchmarks' optional peers: a missing one is reported, never a crash.

A benchmark compares cxcore with other tools (pandas, polars, DuckDB, a C
compiler, psycopg, an SMTP server). Where one is missing, the cases that need
it print one JSON line saying they were skipped and why, and the others run.
``python -m nox -s bench`` installs every peer.
"""

from __future__ import annotations

import importlib
import json
import shutil
from types import ModuleType

INSTALL = "python -m nox -s bench installs every peer"


def skipped(bench: str, case: str, why: str) -> None:
    """Print the JSON line of a case that did not run."""
    print(json.dumps({"bench": bench, "case": case, "skipped": why}), flush=True)


def peer(module: str, *, bench: str, case: str) -> ModuleType | None:
    """Import *module*, or report *case* of *bench* as skipped and return ``None``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        skipped(bench, case, f"{module} is not installed ({exc}); {INSTALL}")
        return None


def program(name: str, *, bench: str, case: str) -> str | None:
    """The path of program *name*, or report *case* of *bench* as skipped and return ``None``."""
    found = shutil.which(name)
    if found is None:
        skipped(bench, case, f"{name} is not on PATH (it is needed for this comparison)")
    return found
