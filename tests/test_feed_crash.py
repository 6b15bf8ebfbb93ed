"""Feed consumers in processes of their own, killed with SIGKILL mid-stream and restarted.

Each consumer applies every event once, in order, whatever the crashes: the
store keeps its position, and what a crash makes it see again (a batch handled
but its position not saved) it recognises by ``seq``. Answers keep arriving
while the consumers run and die.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxcore import NpsQuestion, Submission, Survey

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("feed_consumer_child.py")
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SURVEY = Survey(
    id="kiosk_nps", title={"en": "Visit"}, questions=[NpsQuestion(id="ltr", text={"en": "?"})]
)


def answer(i: int) -> Submission:
    return Submission(
        idempotency_key=f"tap-{i}",
        survey_id="kiosk_nps",
        survey_version=1,
        answers={"ltr": i % 11},
        complete=True,
        channel="kiosk",
        respondent="anonymous",
        received_at=T0 + timedelta(seconds=i),
        context={"store": f"S-{i % 3}"},
    )


def lines(path: Path) -> list[int]:
    return [int(x) for x in path.read_text(encoding="ascii").split()] if path.exists() else []


def start(store: tuple[str, str], name: str, sink: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHILD.parent.parent), *sys.path])}
    with sink.with_suffix(".log").open("ab") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, str(CHILD), *store, name, str(sink)], env=env, stderr=log
        )


def has(sink: Path, n: int) -> Callable[[], bool]:
    return lambda: len(lines(sink)) >= n


def wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            msg = "timed out"
            raise AssertionError(msg)
        time.sleep(0.02)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """The backend and where its store is: a SQLite file, or a PostgreSQL DSN (a schema of its own)."""
    if request.param == "postgres":
        return "postgres", str(request.getfixturevalue("postgres_dsn"))
    return "sqlite", str(tmp_path / "feed.db")


def open_store(store: tuple[str, str]) -> Any:
    kind, url = store
    if kind == "postgres":
        from cxcore.stores import PostgresStore  # noqa: PLC0415

        return PostgresStore(url)
    from cxcore.stores import SQLiteStore  # noqa: PLC0415

    return SQLiteStore(url)


def test_consumers_killed_mid_stream_apply_every_event_once_in_order(store_url, tmp_path):
    """Two consumers (two names, two processes), each SIGKILLed twice and restarted, while answers arrive."""
    total = 400

    async def write(first: int, last: int) -> list[int]:
        async with open_store(store_url) as store:
            await store.put_survey(SURVEY)
            for i in range(first, last):
                await store.submit(answer(i))
            return [e.seq for e in await store.feed(limit=10_000)]

    asyncio.run(write(0, 150))
    sinks = {name: tmp_path / f"{name}.seqs" for name in ("closed-loop", "crm-sync")}
    children = {name: start(store_url, name, sink) for name, sink in sinks.items()}
    try:
        for kill_after in (60, 220):
            for name, sink in sinks.items():
                wait_for(has(sink, kill_after))
                children[name].send_signal(signal.SIGKILL)
                children[name].wait(10)
                children[name] = start(store_url, name, sink)
            if kill_after == 60:
                asyncio.run(write(150, total))  # more answers while they restart
        everything = asyncio.run(write(total, total))
        assert len(everything) == total
        for sink in sinks.values():
            wait_for(has(sink, total))
    finally:
        for child in children.values():
            child.send_signal(signal.SIGKILL)
            child.wait(10)
    for name, sink in sinks.items():
        seen = lines(sink)
        assert seen == everything, name  # every event once, in order, no gap
        again = lines(sink.with_suffix(".again"))
        assert len(again) <= 2 * 20, (name, again)  # at most a batch again per crash
