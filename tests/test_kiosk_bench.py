"""bench_kiosk in its quick smoke mode, and without its peer (the house pattern of test_benchmarks)."""

from __future__ import annotations

import os

import pytest

from tests.test_benchmarks import run_without
from tests.test_collector_browser import _missing

pytestmark = pytest.mark.slow


def test_a_small_flush_prints_both_cases_with_the_ratio():
    """30 answers, one run: a line for Python's baseline and one for the browser with its ratio."""
    problem = _missing()
    if problem is not None:
        pytest.skip(problem)
    status, lines = run_without(
        "bench_kiosk.py", [], "--answers=30", "--runs=1", path=os.environ["PATH"]
    )
    assert status == 0
    python, flush = lines
    assert (python["case"], flush["case"]) == ("python", "flush")
    assert python["answers"] == flush["answers"] == 30
    assert flush["baseline"] == "python"
    assert flush["ratio"] == round(flush["seconds"]["median"] / python["seconds"]["median"], 2)
    assert flush["target"] == "ratio <= 2"


def test_without_playwright_it_is_skipped(tmp_path):
    """Without Playwright, bench_kiosk prints one skipped line and exits 0."""
    status, lines = run_without(
        "bench_kiosk.py", ["playwright", "playwright.async_api"], path=str(tmp_path)
    )
    assert status == 0
    ((bench, case, why),) = [(line["bench"], line["case"], line["skipped"]) for line in lines]
    assert (bench, case) == ("kiosk", "all cases")
    assert why.startswith("playwright is not installed")
