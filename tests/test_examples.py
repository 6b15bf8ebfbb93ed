"""The examples run: the retail demo goes end to end, from visits to scores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parent.parent / "examples" / "retail" / "demo.py"


def test_the_retail_demo_runs_end_to_end(tmp_path):
    """A short run sends invitations, stores answers and prints scores by store, with explain()."""
    db = tmp_path / "bazaar.db"
    run = subprocess.run(
        [sys.executable, str(DEMO), "--customers", "600", "--days", "3", "--db", str(db)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Invitations sent:" in out
    assert "Responses stored:" in out
    assert "One-click answers over HTTP to the collector:" in out
    assert "HTTP 5" not in out
    assert "Feed, read by consumer 'demo-report'" in out
    assert "-- CSAT after billing, % satisfied (4-5), by store" in out
    assert "=> skip: recontact_window; eligible again at" in out
    assert db.is_file()
