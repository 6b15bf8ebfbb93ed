"""The baseline of ``bench_collector.py``: a bare Starlette endpoint doing a durable SQLite insert.

One process, served as ``cxcore serve`` serves (uvicorn, uvloop, httptools,
no access log, no server header). ``POST /answers`` reads the JSON body and
stores it in one row under its key (``key``, or ``interaction.id``); a body
``{"items": [...]}`` stores one row per item, in one write. The file is in WAL
mode with ``synchronous=FULL``, as the store's, so a 200 means the row is on
disk. ``--commit each`` commits every request on its own, on one writer
thread; ``--commit group`` commits whatever requests are waiting together, as
the store's writer does (each insert in a savepoint of its own, up to 256 a
transaction). Nothing else: no API key, no validation, no survey.

    python benchmarks/_bare_endpoint.py --db PATH --port PORT --commit group
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GROUP_COMMIT = 256
"""The most inserts one transaction takes, as the store's default."""

Row = tuple[str, str, str, int]


def connect(path: Path) -> sqlite3.Connection:
    """A connection as the store makes one: WAL, ``synchronous=FULL``, autocommit off by hand."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS answers "
        "(key TEXT PRIMARY KEY, id TEXT NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)"
    )
    return conn


def insert(conn: sqlite3.Connection, rows: list[Row]) -> None:
    conn.executemany("INSERT INTO answers (key, id, body, received_at) VALUES (?, ?, ?, ?)", rows)


class EachCommit:
    """One transaction per request, on one writer thread."""

    def __init__(self, path: Path) -> None:
        self.conn = connect(path)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="bare-writer")

    def _write(self, rows: list[Row]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            insert(self.conn, rows)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    async def write(self, rows: list[Row]) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, self._write, rows)


class GroupCommit:
    """Whatever requests wait share one transaction, each insert in a savepoint of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        connect(path).close()  # the table exists before the first request
        self.queue: queue.SimpleQueue[tuple[list[Row], Future[None]]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="bare-writer", daemon=True).start()

    def _loop(self) -> None:
        conn = connect(self.path)
        while True:
            group = [self.queue.get()]
            while len(group) < GROUP_COMMIT:
                try:
                    group.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            conn.execute("BEGIN IMMEDIATE")
            done: list[tuple[Future[None], BaseException | None]] = []
            for rows, future in group:
                conn.execute("SAVEPOINT op")
                try:
                    insert(conn, rows)
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK TO op")
                    done.append((future, exc))
                else:
                    done.append((future, None))
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
            for future, error in done:
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def write(self, rows: list[Row]) -> None:
        future: Future[None] = Future()
        self.queue.put((rows, future))
        await asyncio.wrap_future(future)


def _row(item: dict[str, Any]) -> Row:
    key = item.get("key") or item["interaction"]["id"]
    return (str(key), uuid.uuid4().hex, json.dumps(item), time.time_ns() // 1000)


def app(write: Callable[[list[Row]], Any]) -> Starlette:
    async def answers(request: Request) -> Response:
        body = json.loads(await request.body())
        items = body.get("items", [body])
        rows = [_row(item) for item in items]
        try:
            await write(rows)
        except sqlite3.IntegrityError:
            return JSONResponse({"ok": False}, status_code=409)
        return JSONResponse({"ok": True, "ids": [row[1] for row in rows]})

    return Starlette(routes=[Route("/answers", answers, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--commit", choices=("each", "group"), required=True)
    args = parser.parse_args()
    writer = EachCommit(args.db) if args.commit == "each" else GroupCommit(args.db)
    config = uvicorn.Config(
        app(writer.write),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
