"""Checks over every test the suite collects, the docs' pages included.

A docs page is one doctest: if it is skipped as a whole (an example raised
pytest's skip, or every example is marked ``+SKIP``), none of its examples ran,
and the page may no longer match the code. That is a failure, not a skip.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from _pytest.doctest import DoctestTextfile


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Turn the skip of a whole docs page into a failure that says why."""
    report = yield
    if report.skipped and call.when == "call" and isinstance(item.parent, DoctestTextfile):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"{item.parent.path.name}: the page's examples were skipped as a whole ({reason}), "
            "so none of them ran; make the page run (catch the skip in the example, or drop "
            "the +SKIP marks)"
        )
    return report
