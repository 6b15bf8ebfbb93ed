"""bench_sms runs in a quick mode: every case prints its line, with its baseline and ratio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_bench_sms_quick_mode_prints_every_case() -> None:
    """40 sends and 40 replies, one round: four JSON lines, the ratios against named baselines."""
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_sms.py"),
            "--sends=40",
            "--replies=40",
            "--runs=1",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    lines = {line["case"]: line for line in map(json.loads, run.stdout.splitlines())}
    assert set(lines) == {"bare_create_async", "sms_sends", "plain_answers", "sms_replies"}
    assert lines["sms_sends"]["baseline"] == "bare_create_async"
    assert lines["sms_replies"]["baseline"] == "plain_answers"
    assert lines["sms_sends"]["messages"] == 40
    # 40 replies and 40 plain answers, each stored once.
    assert lines["sms_replies"]["responses_in_store"] == 80
    for case in ("sms_sends", "sms_replies"):
        assert lines[case]["slowdown"] > 0
        assert lines[case]["per_second"] > 0
