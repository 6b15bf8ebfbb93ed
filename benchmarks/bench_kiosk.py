"""Benchmark: a kiosk's queue flushed after reconnecting, against the same answers posted by Python.

``cxcore serve`` runs as a subprocess (uvicorn, uvloop, httptools) from a
``cxcore.toml`` in a temporary folder: a SQLite store (WAL,
``synchronous=FULL``), the retail example's definitions, rate limits per
address and key off, no dispatcher, ``--log-level WARNING``. Each run adds a
kiosk of its own with ``cxcore kiosk add`` (``store_exit`` at the store's
exit), so that every run starts with a full per-device rate bucket (the
default: 30 requests at once, 2 a second after).

Cases, each run ``--runs`` times (3), alternating; every line gives the median
and each run's figure:

* ``flush``: Debian's Chromium (Playwright, ``/usr/bin/chromium``) opens the
  kiosk page, goes offline (``context.set_offline(True)``) and queues
  ``--answers`` (1,000) answers in IndexedDB through the page's own queue
  (``cxKiosk.record``, what a tap does after the screens). The clock starts
  when the browser comes back online and stops when the page's queue is empty:
  the page delivers them in requests of 100 to ``POST /kiosk/api/answers``,
  each under the Web Lock, each item removed from IndexedDB when the server
  has answered for it.
* ``python``: the baseline, the same number of answers of the same shape, each
  with its own key, posted from Python (``http.client``, one kept-alive
  connection) to the same endpoint in the same requests of 100, one after the
  other, until the last is acknowledged.

``ratio`` is the browser's median over Python's (target: at most 2). After each
run the responses stored are counted: any other count than the answers
queued, or a refused answer, stops the benchmark with an error.

Usage: python benchmarks/bench_kiosk.py [--answers 1000] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _peers import peer, skipped
from bench_collector import BenchError, Server, deployment, free_port

BENCH = "kiosk"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BATCH = 100
ANSWERS = {"visit_mood": 4, "found_it": "partly", "looking_for": "Kurta in size L"}


def emit(**fields: object) -> None:
    print(json.dumps({"bench": BENCH, **fields}), flush=True)


def add_kiosk(cli: list[str], config: Path, env: dict[str, str], name: str) -> str:
    issued = subprocess.run(  # noqa: S603
        [*cli, "kiosk", "add", name, "--store", "BLR-01", "--touchpoint", "store_exit",
         "--survey", "store_exit", "--config", str(config)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return issued.stdout.splitlines()[0].strip()


def stored(server: Server, kiosk: str) -> int:
    # Stored under the kiosk's own keys: kiosk:<device>:<the key the answer was made with>.
    return server.count(f"responses WHERE idempotency_key LIKE 'kiosk:{kiosk}:%'")


def python_run(server: Server, key: str, answers: int) -> float:
    """Post *answers* answers from Python, 100 a request: seconds until the last is answered."""
    bodies = []
    for start in range(0, answers, BATCH):
        count = min(BATCH, answers - start)
        items = [
            {"key": str(uuid.uuid4()), "answers": ANSWERS, "complete": True, "locale": "en",
             "version": 1, "at": "2026-12-07T04:30:00+00:00"}
            for _ in range(count)
        ]  # fmt: skip
        bodies.append(json.dumps({"items": items, "queue": answers - start - count}))
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    started = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/kiosk/api/answers", body=body, headers=headers)
        response = conn.getresponse()
        result = json.loads(response.read())
        if response.status != 200 or result["refused"]:
            msg = f"the server refused answers: {response.status} {result}"
            raise BenchError(msg)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def browser_run(server: Server, key: str, answers: int) -> float:
    """Queue *answers* answers offline in the page: seconds from reconnecting to an empty queue."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - a checked peer

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            context = await browser.new_context()
            context.set_default_timeout(120_000)
            page = await context.new_page()
            await page.goto(f"{server.url}/kiosk/?flush=3600&beat=3600#key={key}")
            await page.wait_for_selector("#attract:not([hidden])")
            await context.set_offline(True)
            await page.evaluate(
                """async ([n, answers]) => {
                    for (let i = 0; i < n; i++) { await window.cxKiosk.record(answers); }
                }""",
                [answers, ANSWERS],
            )
            await page.wait_for_selector(f"body[data-queue='{answers}']", state="attached")
            started = time.perf_counter()
            await context.set_offline(False)
            await page.wait_for_selector("body[data-queue='0']", state="attached")
            elapsed = time.perf_counter() - started
            dropped = await page.evaluate("window.cxKiosk.dropped()")
            if dropped:
                msg = f"the page dropped {len(dropped)} answers: {dropped[0]}"
                raise BenchError(msg)
        finally:
            await browser.close()
    return elapsed


def spread(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 3), "runs": [round(v, 3) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="keep the server's files here")
    args = parser.parse_args()
    if peer("playwright", bench=BENCH, case="all cases") is None:
        return
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        skipped(
            BENCH,
            "all cases",
            f"Debian's Chromium is not at {CHROMIUM} (apt-get install -y chromium)",
        )
        return
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-kiosk-"))
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CXCORE_TOKEN_KEYS": "bench-kiosk-key-0123456789abcdefghijklmnop"}
    port = free_port()
    config = deployment(root, port)
    cli = [sys.executable, "-m", "cxcore"]
    argv = [*cli, "serve", "--config", str(config), "--no-dispatch", "--log-level", "WARNING"]
    server = Server(
        "cxcore serve", argv, port=port, db=root / "cx.db", env=env, log=root / "serve.log"
    )
    figures: dict[str, list[float]] = {"flush": [], "python": []}
    try:
        for run in range(args.runs):
            for case in ("flush", "python") if run % 2 == 0 else ("python", "flush"):
                name = f"bench-{case}-{run}"
                key = add_kiosk(cli, config, env, name)
                if case == "flush":
                    seconds = asyncio.run(browser_run(server, key, args.answers))
                else:
                    seconds = python_run(server, key, args.answers)
                count = stored(server, name)
                if count != args.answers:
                    msg = f"{case} run {run}: {count} responses stored, not {args.answers}"
                    raise BenchError(msg)
                figures[case].append(seconds)
    finally:
        server.stop()
    cores = os.cpu_count()
    python = spread(figures["python"])
    flush = spread(figures["flush"])
    emit(
        case="python",
        answers=args.answers,
        seconds=python,
        answers_per_second=round(args.answers / python["median"]),
        baseline="none: this is the baseline",
        cores=cores,
    )
    ratio = flush["median"] / python["median"]
    emit(
        case="flush",
        answers=args.answers,
        seconds=flush,
        answers_per_second=round(args.answers / flush["median"]),
        baseline="python",
        ratio=round(ratio, 2),
        target="ratio <= 2",
        met=ratio <= 2,
        cores=cores,
    )


if __name__ == "__main__":
    main()
