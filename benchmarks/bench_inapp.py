"""Benchmark: the in-app widget's size, and the time from ``cx.track()`` to the survey shown.

Cases, one JSON line each:

* ``script_size``: the widget script as the collector serves it: its bytes, and
  gzipped (level 9, as served to browsers that accept gzip). Budget: 15 KB
  (15,360 bytes) gzipped; the ratio is to the budget.
* ``track_to_shown``: Debian's Chromium (``/usr/bin/chromium``, driven by
  Playwright) opens a page of the host app on one loopback origin; the
  collector (``Collector`` under uvicorn, a SQLite store with WAL and
  ``synchronous=FULL``) serves on another. Each iteration identifies a new
  user and calls ``cx.track("chat_closed")``: the preflighted eligibility call
  goes through the rules and fatigue, stores the in-app invitation, and the
  prompt is rendered in the shadow root; the clock stops at the first animation
  frame after the dialog is in the page (``performance.now()`` in the page).
  Each prompt is then closed (``cx.reset()``). The first ``--warmup``
  iterations (connection, preflight, first store writes) are left out.
  Target: p95 < 50 ms.
* ``eligibility_from_python``: the baseline, measured in the same run: the
  same eligibility call, for new users, from Python (``http.client``, one
  kept-alive connection, the ``Origin`` and key headers set): what the server
  and the store take without the browser. ``track_to_shown`` gives its ratio to it.

The machine is shared (2 cores here: the JSON says how many).

Usage: python benchmarks/bench_inapp.py [--iterations 200] [--warmup 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import http.client
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _peers import INSTALL, skipped

BENCH = "inapp"
BUDGET = 15 * 1024
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
KEY = "pk_bench_bazaar_web_000000000"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bazaar</title></head>
<body><main><h1>Bazaar</h1></main><script src="{script}" data-key="{key}"></script></body></html>"""

MEASURE = """async ([user]) => {
  cx.identify({id: user});
  const t0 = performance.now();
  const result = await cx.track('chat_closed', {agent: 'A-7'});
  if (!result.show) return {error: result.reason || 'not shown'};
  await new Promise(requestAnimationFrame);
  const ms = performance.now() - t0;
  cx.reset();
  return {ms};
}"""


def _line(case: str, **fields: object) -> None:
    print(json.dumps({"bench": BENCH, "case": case, **fields}), flush=True)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve(app: Any, port: int, ready: threading.Event | None = None) -> Iterator[None]:  # noqa: ANN401
    import uvicorn  # noqa: PLC0415

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started or (ready is not None and not ready.is_set()):
        if time.monotonic() > deadline:
            msg = "a server did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def _collector(folder: Path, host_origin: str) -> Iterator[tuple[str, str]]:
    """The collector on a loopback port: its URL and the widget script's URL."""
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.routing import Mount  # noqa: PLC0415

    from cxcore import (  # noqa: PLC0415
        NpsQuestion,
        RatingQuestion,
        Survey,
        SystemClock,
        TextQuestion,
    )
    from cxcore.collector import Collector, RateLimits, WidgetApp  # noqa: PLC0415
    from cxcore.distribution import RuleSet, TokenService, TriggerRule  # noqa: PLC0415
    from cxcore.stores import SQLiteStore  # noqa: PLC0415
    from cxcore_channels.inapp import InAppChannel  # noqa: PLC0415

    port = _free_port()
    url = f"http://127.0.0.1:{port}/r"
    store = SQLiteStore(folder / "bench.db")
    tokens = TokenService(["bench-token-key-0123456789abcdefghijkl"], clock=SystemClock())
    survey = Survey(
        id="after_chat",
        title={"en": "Your chat with Bazaar"},
        questions=[
            NpsQuestion(id="ltr", text={"en": "How likely are you to recommend Bazaar?"}),
            RatingQuestion(id="agent", text={"en": "Rate the agent"}),
            TextQuestion(id="why", text={"en": "Anything else?"}),
        ],
    )
    rules = RuleSet(rules=[TriggerRule(id="chat", touchpoint="chat_closed", survey="after_chat")])
    collector = Collector(
        store=store,
        tokens=tokens,
        public_url=url,
        channels={"inapp": InAppChannel()},
        rules=rules,
        apps=[WidgetApp(id="web", key=KEY, origins=(host_origin,))],
        limits=RateLimits(per_address=None, per_key=None),
    )
    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await store.put_survey(survey)
        ready.set()
        try:
            yield
        finally:
            await collector.aclose()
            await store.aclose()

    app = Starlette(routes=[Mount("/r", collector)], lifespan=lifespan)
    with _serve(app, port, ready):
        script = collector.widget_url
        assert script is not None
        yield url, script


@contextlib.contextmanager
def _host(port: int, script: str) -> Iterator[str]:
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.responses import HTMLResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    async def page(request: Any) -> HTMLResponse:  # noqa: ANN401
        del request
        return HTMLResponse(PAGE.format(script=script, key=KEY))

    with _serve(Starlette(routes=[Route("/", page)]), port):
        yield f"http://127.0.0.1:{port}"


def _script_size() -> None:
    from cxcore.collector.widget import widget_script  # noqa: PLC0415

    script = widget_script()
    packed = len(gzip.compress(script, compresslevel=9, mtime=0))
    _line(
        "script_size",
        bytes=len(script),
        gzip_bytes=packed,
        gzip_kib=round(packed / 1024, 2),
        budget_gzip_bytes=BUDGET,
        ratio_to_budget=round(packed / BUDGET, 3),
        within_budget=packed <= BUDGET,
    )


def _python_calls(url: str, origin: str, n: int, warmup: int) -> list[float]:
    host, _, rest = url.removeprefix("http://").partition("/")
    name, _, port = host.partition(":")
    connection = http.client.HTTPConnection(name, int(port))
    headers = {"Content-Type": "application/json", "Origin": origin, "X-Cx-App-Key": KEY}
    times: list[float] = []
    try:
        for i in range(n + warmup):
            body = json.dumps(
                {"event": "chat_closed", "user": {"id": f"py-{i}"}, "properties": {"agent": "A-7"}}
            ).encode()  # bytes: headers and body go in one send (no Nagle and delayed-ACK stall)
            started = time.perf_counter()
            connection.request("POST", f"/{rest}/w/v1/eligibility", body=body, headers=headers)
            answer = connection.getresponse()
            data = json.loads(answer.read())
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status != 200 or not data.get("show"):
                msg = f"the eligibility call answered {answer.status}: {data}"
                raise RuntimeError(msg)
            if i >= warmup:
                times.append(elapsed)
    finally:
        connection.close()
    return times


async def _browser_calls(host: str, n: int, warmup: int) -> list[float]:
    from playwright.async_api import async_playwright  # noqa: PLC0415

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{host}/")
            await page.wait_for_function("window.cx && window.cx.version")
            times: list[float] = []
            for i in range(n + warmup):
                result = await page.evaluate(MEASURE, [f"web-{i}"])
                if "error" in result:
                    msg = f"iteration {i}: the survey was not shown ({result['error']})"
                    raise RuntimeError(msg)
                if i >= warmup:
                    times.append(float(result["ms"]))
            return times
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="20 iterations: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.warmup = 20, 3
    _script_size()
    try:
        import playwright.async_api  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError as exc:
        skipped(BENCH, "track_to_shown", f"{exc.name} is not installed; {INSTALL}")
        return
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        skipped(
            BENCH,
            "track_to_shown",
            f"Debian's Chromium is not at {CHROMIUM} (apt-get install -y chromium)",
        )
        return
    common = {"cpus": os.cpu_count(), "iterations": args.iterations, "warmup": args.warmup}
    host_port = _free_port()
    origin = f"http://127.0.0.1:{host_port}"
    with (
        tempfile.TemporaryDirectory() as folder,
        _collector(Path(folder), origin) as (url, script),
        _host(host_port, script) as host,
    ):
        browser = asyncio.run(_browser_calls(host, args.iterations, args.warmup))
        python = _python_calls(url, origin, args.iterations, args.warmup)
    shown, baseline = _percentiles(browser), _percentiles(python)
    _line(
        "track_to_shown",
        **common,
        **shown,
        target_p95_ms=50,
        within_target=shown["p95_ms"] < 50,
        baseline="eligibility_from_python",
        ratio_p95_to_baseline=round(shown["p95_ms"] / baseline["p95_ms"], 2),
        ratio_p50_to_baseline=round(shown["p50_ms"] / baseline["p50_ms"], 2),
    )
    _line("eligibility_from_python", **common, **baseline)


if __name__ == "__main__":
    main()
