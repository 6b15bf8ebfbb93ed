"""Benchmark: ``cxcore serve`` under load from ``wrk``, against a bare Starlette endpoint.

``cxcore serve`` runs as a subprocess (uvicorn, uvloop, httptools), from a
``cxcore.toml`` written to a temporary folder: a SQLite store (WAL,
``synchronous=FULL``), the retail example's definitions and rules, rate limits
off, no dispatcher, ``--log-level WARNING`` (no access log line a request;
the bare endpoint writes none either). ``cxcore keys add`` issues its API key. ``wrk`` (Debian's
package, ``apt-get install -y wrk``; 4.1.0 here) drives it from another
process with ``collector.lua``, which gives every request its own idempotency
key, interaction id and customer; one wrk thread (``-t1``), since the server
and wrk share the machine's cores (2 here: the JSON says how many). Each run
lasts ``--seconds`` (10).

Cases, each run ``--runs`` times (3), rounds alternating the servers; every
line gives the median and each run's figure (the spread):

* ``disk``: what one commit costs on this disk (WAL, ``synchronous=FULL``, one
  insert a transaction, for 1 s): it bounds every durable case;
* ``answers`` at 10 and 50 connections: ``POST /api/answers``, an anonymous
  kiosk answer with an API key (scope ``answers``), through ``Intake.anonymous``
  into ``SQLiteStore.submit``. Targets at 10 connections: >= 6,000/s, p99 <=
  3 ms, and no more than 1.5x slower than the bare endpoint;
* ``bare_group_commit`` and ``bare_commit_per_request``: the baselines, a bare
  Starlette endpoint (``_bare_endpoint.py``, one process, served as
  ``cxcore serve`` is) storing each request's JSON in one row of a table of
  the same durable file settings, with the store's group commit or with one
  commit per request. The ratio the target uses is to the group commit one:
  the store commits in groups, so it is the like-for-like insert (the other is
  bounded by one fsync per request, and flatters us; its ratio is printed too);
* ``interactions`` (one per request) and ``interactions_batch`` (``--batch``
  per request): ``POST /api/interactions[/batch]`` (scope ``interactions``),
  each interaction of a new customer, through the rules into the outbox.
  Target: >= 5,000 interactions/s. Baseline: the bare group-commit endpoint
  storing the same bodies, one row per interaction;
* ``feed``: under the 10-connection answers load from wrk, a probe sends one
  more answer every ``--probe-ms`` (10) over its own connection and notes when
  each is acknowledged; a subscriber in another process, which opens the same
  SQLite file and reads it with :func:`cxcore.feed.follow` (``wait_feed``),
  notes when it sees each answer's event. Matched by response id, the time
  from acknowledgement to sight: p50 and p99 (target: p99 <= 50 ms); negative
  when the subscriber saw the event before the probe had read its answer.
  Both read ``time.monotonic()`` (``CLOCK_MONOTONIC``, one clock for every
  process on Linux). Run once with the store's default ``feed_poll`` and once
  with ``--feed-poll``.

Why a subscriber in another process: the server is ``cxcore serve`` itself,
unchanged, and its only in-process subscriber is the live-scores stream,
which sends counted snapshots at most every 0.25 s, not events, so it cannot
tell when one answer was seen. A process reading the feed of the same file is
what the closed loop and any consumer beside ``cxcore serve`` is; the store
wakes subscribers of its own process at once, but sees other processes'
writes by looking every ``feed_poll`` seconds (0.02 by default), which bounds
this case.

After every run the rows stored (responses, invitations, or the bare table's
rows) are counted against the 2xx answers wrk got. wrk stops at its deadline
with a request in flight on some connections, which the server may still
store: the count must lie between the 2xx answers and the 2xx answers plus
those in flight (``sent - answered``, counted by the script), and any other
count, or any non-2xx answer, stops the benchmark with an error.

``server_cpu_us_per_request`` is the CPU time of the server process (every
thread) over the run, by request: unlike a rate, it hardly moves when other
work shares the machine.

Usage: python benchmarks/bench_collector.py [--seconds 10] [--runs 3] [--batch 100]
       [--connections 10 50] [--feed-poll 0.01] [--dir DIR] [--only CASE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from _peers import peer, skipped

BENCH = "collector"
HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "retail"
LUA = HERE / "collector.lua"
CASES = ("disk", "answers", "interactions", "feed")
SERVE = "cxcore serve --no-dispatch --log-level WARNING (no access log, as the bare endpoint)"

TOML = """\
[store]
sqlite = "cx.db"

[collector]
public_url = "http://127.0.0.1:{port}"
port = {port}
definitions = ["journey.toml", "surveys.toml"]
rules = "rules/bazaar.toml"
rate_per_address = false
rate_per_key = false

[dispatch]
in_serve = false

# The rules invite only on channels the deployment runs: an email channel,
# created but never connected (no dispatcher runs here).
[channels.email]
sender = "surveys@bazaar.example.in"
host = "127.0.0.1"
tls = "none"
amp = false
"""


def emit(**fields: object) -> None:
    print(json.dumps({"bench": BENCH, **fields}), flush=True)


class BenchError(Exception):
    """A run that cannot be trusted: a refused request, or rows that do not match the answers."""


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            raise BenchError(msg)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    msg = f"the server did not listen on {port} within 60 s"
    raise BenchError(msg)


class Server:
    """A server subprocess, its port, its database and how to count the rows it stored."""

    def __init__(
        self, name: str, argv: list[str], *, port: int, db: Path, env: dict[str, str], log: Path
    ) -> None:
        self.name = name
        self.port = port
        self.db = db
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        wait_listening(port, self.process, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, table: str) -> int:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        finally:
            conn.close()

    def settled_count(self, table: str) -> int:
        """The count once the server has written what it still had (unchanged for 0.3 s)."""
        last = self.count(table)
        while True:
            time.sleep(0.3)
            now = self.count(table)
            if now == last:
                return now
            last = now

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def deployment(root: Path, port: int) -> Path:
    shutil.copy(EXAMPLE / "journey.toml", root)
    shutil.copy(EXAMPLE / "surveys.toml", root)
    (root / "rules").mkdir()
    shutil.copy(EXAMPLE / "rules" / "bazaar.toml", root / "rules")
    config = root / "cxcore.toml"
    config.write_text(TOML.format(port=port))
    return config


def start_collector(root: Path, env: dict[str, str]) -> tuple[Server, str]:
    port = free_port()
    config = deployment(root, port)
    cli = [sys.executable, "-m", "cxcore"]
    issued = subprocess.run(  # noqa: S603
        [*cli, "keys", "add", "bench", "--scope", "answers", "--scope", "interactions",
         "--config", str(config)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    key = issued.stdout.splitlines()[0].strip()
    argv = [*cli, "serve", "--config", str(config), "--no-dispatch", "--log-level", "WARNING"]
    server = Server(
        "cxcore serve", argv, port=port, db=root / "cx.db", env=env, log=root / "serve.log"
    )
    return server, key


def start_bare(root: Path, commit: str, env: dict[str, str]) -> Server:
    port = free_port()
    db = root / f"bare-{commit}.db"
    argv = [sys.executable, str(HERE / "_bare_endpoint.py"), "--db", str(db), "--port",
            str(port), "--commit", commit]  # fmt: skip
    return Server(
        f"bare {commit}", argv, port=port, db=db, env=env, log=root / f"bare-{commit}.log"
    )


# ---------------------------------------------------------------- wrk


def run_wrk(
    wrk: str,
    server: Server,
    *,
    path: str,
    kind: str,
    prefix: str,
    key: str,
    connections: int,
    seconds: float,
    batch: int = 1,
    table: str,
    during: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """One bounded wrk run; its figures, after checking the rows stored against the 2xx answers.

    *during* runs while wrk does, and returns how many rows it stored itself.
    """
    before = server.count(table)
    cpu = server.cpu_seconds()
    occurred = datetime.now(UTC).isoformat(timespec="seconds")
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(LUA),
            server.url, "--", path, kind, prefix, key, str(batch), occurred]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    extra = during() if during is not None else 0
    out, err = process.communicate()
    if process.returncode != 0:
        msg = f"wrk failed ({process.returncode}): {err or out}"
        raise BenchError(msg)
    cpu = server.cpu_seconds() - cpu
    lines = [line for line in out.splitlines() if line.startswith("wrk-json ")]
    if not lines:
        msg = f"wrk printed no summary:\n{out}\n{err}"
        raise BenchError(msg)
    figures = json.loads(lines[-1].removeprefix("wrk-json "))
    stored = server.settled_count(table) - before - extra
    answered = figures["requests"] - figures["non_2xx_3xx"]
    in_flight = figures["sent"] - figures["requests"]
    problems = [
        f"{name}: {figures[name]}"
        for name in ("non_2xx_3xx", "connect_errors", "timeouts")
        if figures[name]
    ]
    if not answered * batch <= stored <= (answered + in_flight) * batch:
        problems.append(
            f"{stored} rows stored for {answered} 2xx answers of {batch} item(s) "
            f"({in_flight} request(s) in flight when wrk stopped)"
        )
    if problems:
        msg = f"{server.name} {path} at {connections} connections: " + "; ".join(problems)
        raise BenchError(msg)
    seconds_run = figures["duration_us"] / 1e6
    return {
        "rps": answered / seconds_run,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "max_ms": figures["max_us"] / 1000,
        "cpu_us": cpu / max(1, figures["requests"]) * 1e6,
        "stored": stored,
        "answered_2xx": answered,
        "in_flight_at_stop": in_flight,
    }


# ---------------------------------------------------------------- the disk


def disk_case(root: Path, seconds: float = 1.0) -> dict[str, float]:
    """Commits a second, and their p50 and p99, one insert a transaction, WAL, synchronous=FULL."""
    path = root / f"disk-{time.monotonic_ns()}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, body TEXT)")
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (body) VALUES (?)", ("x" * 300,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - start)
    conn.close()
    times.sort()
    return {
        "commits_per_s": len(times) / sum(times),
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
    }


# ---------------------------------------------------------------- the feed


def _subscriber(
    db: str, feed_poll: float | None, ready: Queue[int], stop: EventType, out: Queue[Any]
) -> None:
    """Follow the feed of *db* from now on; note when each answer's event is seen."""
    from cxcore.feed import follow  # noqa: PLC0415 - in the child process
    from cxcore.ports.feed import FeedKind  # noqa: PLC0415
    from cxcore.stores import SQLiteStore  # noqa: PLC0415

    seen: dict[str, float] = {}

    async def main() -> None:
        options = {} if feed_poll is None else {"feed_poll": feed_poll}
        async with SQLiteStore(db, **options) as store:  # type: ignore[arg-type]
            events = follow(store).__aiter__()
            first = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0.2)  # follow() has read the head: what comes next is seen
            ready.put(os.getpid())

            async def read() -> None:
                event = await first
                while True:
                    if event.kind is FeedKind.ANSWER:
                        seen[event.subject] = time.monotonic()
                    event = await events.__anext__()

            reading = asyncio.ensure_future(read())
            await asyncio.to_thread(stop.wait)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    asyncio.run(main())
    out.put(seen)


def _probe(url: str, key: str, prefix: str, every: float, until: float) -> dict[str, float]:
    """Send an answer every *every* s until *until*; when each response id was acknowledged."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    acked: dict[str, float] = {}
    n = 0
    next_at = time.monotonic()
    while next_at < until:
        time.sleep(max(0.0, next_at - time.monotonic()))
        n += 1
        body = json.dumps({
            "survey": "store_exit",
            "answers": {"visit_mood": 1 + n % 5},
            "key": f"{prefix}-{n}",
            "context": {"store": "BLR-09", "touchpoint": "store_exit"},
        })  # fmt: skip
        conn.request(
            "POST",
            "/api/answers",
            body,
            {"Content-Type": "application/json", "X-Api-Key": key},
        )
        reply = conn.getresponse()
        data = reply.read()
        at = time.monotonic()
        if reply.status != 200:
            msg = f"the probe's answer was refused: {reply.status} {data[:300]!r}"
            raise BenchError(msg)
        acked[json.loads(data)["results"][0]["response_id"]] = at
        next_at += every
    conn.close()
    return acked


def feed_run(
    wrk: str,
    server: Server,
    key: str,
    *,
    seconds: float,
    feed_poll: float | None,
    probe_every: float,
    prefix: str,
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ready: Queue[int] = ctx.Queue()
    out: Queue[Any] = ctx.Queue()
    stop = ctx.Event()
    child = ctx.Process(target=_subscriber, args=(str(server.db), feed_poll, ready, stop, out))
    child.start()
    acked: dict[str, float] = {}
    try:
        ready.get(timeout=60)

        def probe() -> int:
            start = time.monotonic()
            acked.update(
                _probe(server.url, key, f"{prefix}-probe", probe_every, start + seconds - 0.5)
            )
            return len(acked)

        load = run_wrk(
            wrk, server, path="/api/answers", kind="answer", prefix=prefix, key=key,
            connections=10, seconds=seconds, table="responses", during=probe,
        )  # fmt: skip
        time.sleep(max(1.0, 2 * (feed_poll or 0.2)))  # the last events reach the subscriber
    finally:
        stop.set()
    seen: dict[str, float] = out.get(timeout=60)
    child.join(30)
    missing = [rid for rid in acked if rid not in seen]
    if missing:
        msg = f"the subscriber never saw {len(missing)} of {len(acked)} acknowledged answers"
        raise BenchError(msg)
    lags = sorted((seen[rid] - at) * 1000 for rid, at in acked.items())
    return {
        "lag_p50_ms": lags[len(lags) // 2],
        "lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max_ms": lags[-1],
        "probes": len(lags),
        "events_seen": len(seen),
        "load_rps": load["rps"],
        "load_p99_ms": load["p99_ms"],
    }


# ---------------------------------------------------------------- reporting


def spread(values: list[float], digits: int = 2) -> dict[str, Any]:
    median = round(statistics.median(values), digits)
    return {"median": median, "runs": [round(v, digits) for v in values]}


def stored_vs_2xx(run: dict[str, Any], per_request: int) -> str:
    """What the check after a run found, in words."""
    answered, stored = run["answered_2xx"], run["stored"]
    text = f"{stored} stored for {answered} 2xx answers"
    if per_request > 1:
        text += f" of {per_request} items"
    extra = stored - answered * per_request
    if extra:
        what = f"{extra} items" if per_request > 1 else str(extra)
        text += f" (+{what} of the {run['in_flight_at_stop']} request(s) in flight at wrk's stop)"
    return text


def summary(runs: list[dict[str, Any]], *, per_request: int = 1) -> dict[str, Any]:
    """The median and every run of a case's figures."""
    return {
        "per_s": spread([r["rps"] * per_request for r in runs], 0),
        "p50_ms": spread([r["p50_ms"] for r in runs]),
        "p99_ms": spread([r["p99_ms"] for r in runs]),
        "server_cpu_us_per_request": spread([r["cpu_us"] for r in runs], 0),
        "stored_vs_2xx": [stored_vs_2xx(r, per_request) for r in runs],
    }


def slowdowns(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    """Their rate over ours, run by run (> 1: we are slower)."""
    return spread([t["rps"] / o["rps"] for o, t in zip(ours, theirs, strict=True)])


# ---------------------------------------------------------------- main


@contextlib.contextmanager
def servers(root: Path, env: dict[str, str]) -> Iterator[tuple[Server, str, Server, Server]]:
    started: list[Server] = []
    try:
        collector, key = start_collector(root, env)
        started.append(collector)
        group = start_bare(root, "group", env)
        started.append(group)
        each = start_bare(root, "each", env)
        started.append(each)
        yield collector, key, group, each
    finally:
        for server in started:
            server.stop()


def main() -> None:  # noqa: C901, PLR0912, PLR0915 - one flat script of cases
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--feed-poll", type=float, default=0.01)
    parser.add_argument("--probe-ms", type=float, default=10.0)
    parser.add_argument("--dir", type=Path, help="where the databases go (default: a temp dir)")
    parser.add_argument("--only", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        why = "wrk is not on PATH: install Debian's package (apt-get install -y wrk)"
        skipped(BENCH, "all cases", why)
        return
    for module in ("uvicorn", "uvloop", "httptools", "starlette"):
        if peer(module, bench=BENCH, case="all cases") is None:
            return
    env = {**os.environ, "CXCORE_TOKEN_KEYS": secrets.token_urlsafe(48)}
    cores = os.cpu_count()
    load = f"wrk -t1 (one thread), {args.seconds} s a run; server and wrk share {cores} cores"
    tag = secrets.token_hex(3)
    runs: dict[str, list[dict[str, Any]]] = {}

    def record(name: str, figures: dict[str, Any]) -> None:
        runs.setdefault(name, []).append(figures)

    with contextlib.ExitStack() as stack:
        root = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        collector, key, group, each = stack.enter_context(servers(root, env))
        common = {"path": "/answers", "key": "-", "table": "answers", "seconds": args.seconds}
        for round_ in range(args.runs):
            prefix = f"{tag}-{round_}"
            if "disk" in args.only:
                record("disk", disk_case(root))
            if "answers" in args.only:
                for c in args.connections:
                    # Rotate which server goes first, so drift of the machine spreads evenly.
                    order = [("answers", collector), ("bare_group", group), ("bare_each", each)]
                    order = order[round_ % 3 :] + order[: round_ % 3]
                    for name, server in order:
                        if server is collector:
                            figures = run_wrk(
                                wrk, server, path="/api/answers", kind="answer", key=key,
                                prefix=f"{prefix}-a{c}", connections=c, seconds=args.seconds,
                                table="responses",
                            )  # fmt: skip
                        else:
                            figures = run_wrk(
                                wrk, server, kind="answer", prefix=f"{prefix}-{name}{c}",
                                connections=c, **common,
                            )  # fmt: skip
                        record(f"{name}_{c}", figures)
            if "interactions" in args.only:
                for batch in (1, args.batch):
                    kind = "interaction" if batch == 1 else "batch"
                    path = "/api/interactions" if batch == 1 else "/api/interactions/batch"
                    record(f"interactions_{batch}", run_wrk(
                        wrk, collector, path=path, kind=kind, prefix=f"{prefix}-i{batch}",
                        key=key, connections=10, seconds=args.seconds, batch=batch,
                        table="invitations",
                    ))  # fmt: skip
                    record(f"bare_interactions_{batch}", run_wrk(
                        wrk, group, kind=kind, prefix=f"{prefix}-bi{batch}", connections=10,
                        batch=batch, **common,
                    ))  # fmt: skip
            if "feed" in args.only:
                for poll in (None, args.feed_poll):
                    record(f"feed_{poll}", feed_run(
                        wrk, collector, key, seconds=args.seconds, feed_poll=poll,
                        probe_every=args.probe_ms / 1000, prefix=f"{prefix}-f{poll}",
                    ))  # fmt: skip

    if "disk" in runs:
        emit(
            case="disk",
            what="1 s of one insert a transaction, WAL, synchronous=FULL, in the bench's folder",
            commits_per_s=spread([r["commits_per_s"] for r in runs["disk"]], 0),
            commit_p50_ms=spread([r["p50_ms"] for r in runs["disk"]], 3),
            commit_p99_ms=spread([r["p99_ms"] for r in runs["disk"]], 3),
        )
    for c in args.connections if "answers" in args.only else ():
        ours, bare_g, bare_e = runs[f"answers_{c}"], runs[f"bare_group_{c}"], runs[f"bare_each_{c}"]
        emit(case="bare_group_commit", connections=c, load=load, **summary(bare_g))
        emit(case="bare_commit_per_request", connections=c, load=load, **summary(bare_e))
        line: dict[str, Any] = {
            "case": "answers",
            "route": "POST /api/answers (anonymous kiosk answer, API key, idempotency key)",
            "connections": c,
            "server": SERVE,
            "load": load,
            **summary(ours),
            "slowdown_vs_bare_group_commit": slowdowns(ours, bare_g),
            "slowdown_vs_bare_commit_per_request": slowdowns(ours, bare_e),
            "ratio_for_target": "slowdown_vs_bare_group_commit",
        }
        if c == 10:
            line["target"] = ">= 6,000/s, p99 <= 3 ms, slowdown <= 1.5"
            line["met"] = {
                "per_s": line["per_s"]["median"] >= 6000,
                "p99": line["p99_ms"]["median"] <= 3,
                "slowdown": line["slowdown_vs_bare_group_commit"]["median"] <= 1.5,
            }
        emit(**line)
    if "interactions" in args.only:
        for batch in (1, args.batch):
            ours, bare = runs[f"interactions_{batch}"], runs[f"bare_interactions_{batch}"]
            per_s = summary(ours, per_request=batch)
            emit(
                case="interactions" if batch == 1 else "interactions_batch",
                route="POST /api/interactions" + ("" if batch == 1 else "/batch"),
                per_request=batch,
                connections=10,
                server=SERVE,
                load=load,
                **per_s,
                bare_group_commit_per_s=summary(bare, per_request=batch)["per_s"],
                slowdown_vs_bare_group_commit=slowdowns(ours, bare),
                target=">= 5,000 interactions/s",
                met=per_s["per_s"]["median"] >= 5000,
            )
    if "feed" in args.only:
        for poll in (None, args.feed_poll):
            feed = runs[f"feed_{poll}"]
            emit(
                case="feed",
                subscriber="another process, follow() on the same SQLite file",
                feed_poll=poll if poll is not None else "default (0.02 s)",
                load=f"answers at 10 connections; {load}",
                probe_every_ms=args.probe_ms,
                lag_p50_ms=spread([r["lag_p50_ms"] for r in feed]),
                lag_p99_ms=spread([r["lag_p99_ms"] for r in feed]),
                lag_max_ms=spread([r["lag_max_ms"] for r in feed]),
                probes=[r["probes"] for r in feed],
                load_per_s=spread([r["load_rps"] for r in feed], 0),
                target="p99 <= 50 ms",
                met=statistics.median(r["lag_p99_ms"] for r in feed) <= 50,
            )


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        emit(case="error", error=str(exc))
        sys.exit(f"bench_collector: {exc}")
