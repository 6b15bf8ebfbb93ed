"""What every part of the SQLite store stands on: connections, the writer, the schema and the audit log.

How the writer commits in groups, and when a write is durable, is told in
:mod:`cxcore.stores.sqlite`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

from cxcore.model.interaction import Scalar
from cxcore.ports.clock import Clock
from cxcore.ports.store import AuditEntry, ConflictError, StoreError
from cxcore.stores._feed_rows import FeedRow
from cxcore.stores._rows import from_micros, micros, to_json
from cxcore.stores._schema import MIGRATIONS, SCHEMA_VERSION, SCORES_BACKFILLED_AT, schema_too_new
from cxcore.stores.sqlite._scores import _backfill_scores

T = TypeVar("T")

_STOP = object()

INSERT_AUDIT = "INSERT INTO audit (at, entity, entity_id, action, detail) VALUES (?, ?, ?, ?, ?)"


class _Op:
    """A write or a read on its way to a thread, and the future its caller awaits on its loop.

    A write of one item of many (*many* and *item*, see :meth:`_Base._write_one_of_many`)
    runs with the like writes queued next to it, in one call of *many*.
    """

    __slots__ = ("fn", "future", "item", "loop", "many")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], Any],
        many: Callable[[sqlite3.Connection, list[Any]], list[Any]] | None = None,
        item: object = None,
    ) -> None:
        self.fn = fn
        self.many = many
        self.item = item
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self.loop.create_future()


Outcome = tuple[_Op, Any, BaseException | None]
"""What became of an op: its value, or the error its caller gets."""


class _Base:
    """Settings, connections, the writer thread, the schema and the audit log.

    :class:`~cxcore.stores.SQLiteStore` sets the attributes declared here.
    """

    if TYPE_CHECKING:  # set by SQLiteStore.__init__; declared for type checkers only
        path: Path
        synchronous: Literal["FULL", "NORMAL"]
        busy_timeout: float
        max_submission_bytes: int
        clock: Clock
        group_commit: int
        frame_parts: int
        _queue: queue.SimpleQueue[_Op | object]
        _writer: threading.Thread | None
        _checkpointer: threading.Thread | None
        _checkpoint_due: threading.Event
        _checkpoint_stop: threading.Event
        _reader: list[threading.Thread] | None
        _reads: queue.SimpleQueue[_Op | object]
        _reader_conns: queue.SimpleQueue[sqlite3.Connection] | None
        feed_poll: float
        _loop: asyncio.AbstractEventLoop | None
        _feed_signal: asyncio.Event | None
        _feed_pending: bool

    # ------------------------------------------------------------ lifecycle

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=self.busy_timeout, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    async def open(self) -> None:
        """Create or open the file, and migrate it to the current schema."""
        if self._writer is not None:
            return
        ready: Future[None] = Future()
        self._checkpoint_due = threading.Event()
        self._checkpoint_stop = threading.Event()
        self._writer = threading.Thread(
            target=self._write_loop,
            args=(ready,),
            name=f"cxcore-sqlite-writer:{self.path.name}",
            daemon=True,
        )
        self._writer.start()
        try:
            await asyncio.wrap_future(ready)
        except sqlite3.Error as exc:
            self._writer = None
            msg = f"cannot open the SQLite store {str(self.path)!r}: {exc}"
            raise StoreError(msg) from exc
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop,
            args=(await asyncio.to_thread(self._connect),),
            name=f"cxcore-sqlite-checkpointer:{self.path.name}",
            daemon=True,
        )
        self._checkpointer.start()
        self._loop = asyncio.get_running_loop()
        self._feed_signal = asyncio.Event()
        # As many connections as reader threads; each read takes whichever is free.
        conns: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        for _ in range(self.frame_parts):
            conns.put(await asyncio.to_thread(self._connect))
        self._reads = queue.SimpleQueue()
        self._reader_conns = conns
        self._reader = [
            threading.Thread(
                target=self._read_loop,
                args=(self._reads, conns),
                name=f"cxcore-sqlite-reader_{i}",
                daemon=True,
            )
            for i in range(self.frame_parts)
        ]
        for thread in self._reader:
            thread.start()

    async def aclose(self) -> None:
        """Finish every pending write, then close. Calling it again does nothing."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(_STOP)
            await asyncio.get_running_loop().run_in_executor(None, writer.join)
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            self._checkpoint_stop.set()
            self._checkpoint_due.set()
            await asyncio.get_running_loop().run_in_executor(None, checkpointer.join)
        reader, self._reader = self._reader, None
        if reader is not None:
            for _ in reader:  # after the reads under way
                self._reads.put(_STOP)
            for thread in reader:
                await asyncio.get_running_loop().run_in_executor(None, thread.join)
            conns, self._reader_conns = self._reader_conns, None
            while conns is not None and not conns.empty():
                conns.get().close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, synchronous={self.synchronous!r})"

    # ------------------------------------------------------------ the writer

    def _write_loop(self, ready: Future[None]) -> None:
        try:
            conn = self._connect()
            # The writer's page cache holds the indexes that new rows land in at random
            # places (ids are digests): 2 MB, SQLite's default, re-reads their pages.
            conn.execute("PRAGMA cache_size = -32768")
            # The checkpointer thread copies the WAL into the file as it grows, off the
            # writer's path (see _checkpoint_loop). The writer checkpoints too, once the
            # WAL passes 10,000 pages: by then only the pages of the last moments are
            # left to copy, and a checkpoint that ends between two of its transactions
            # lets the next one start the WAL again from its beginning.
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
            self._migrate(conn)
        except BaseException as exc:  # noqa: BLE001 - handed to the opener
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group: list[_Op] = [first]  # type: ignore[list-item]
                stop = False
                while len(group) < self.group_commit:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    group.append(nxt)  # type: ignore[arg-type]
                self._run_group(conn, group)
                if stop:
                    return
        finally:
            conn.close()

    def _run_group(self, conn: sqlite3.Connection, group: list[_Op]) -> None:
        results: list[Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            error = StoreError(f"cannot start a transaction: {exc}")
            _hand_back([(op, None, error) for op in group])
            return
        at = 0
        while at < len(group):
            # An op alone, or the run of like ops of many items queued together.
            many = group[at].many
            end = at + 1
            while many is not None and end < len(group) and group[end].many == many:
                end += 1
            run = group[at:end]
            at = end
            conn.execute("SAVEPOINT op")
            try:
                values = [run[0].fn(conn)] if len(run) == 1 else many(conn, [o.item for o in run])  # type: ignore[misc]
            except BaseException as exc:  # noqa: BLE001 - these ops fail alone
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                failure = _store_error(exc, writing=True)
                results.extend((op, None, failure) for op in run)
            else:
                conn.execute("RELEASE op")
                results.extend((op, value, None) for op, value in zip(run, values, strict=True))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            error = StoreError(f"commit failed, nothing was written: {exc}")
            _hand_back([(op, None, error) for op, _, _ in results])
            return
        _hand_back(results)
        self._checkpoint_due.set()
        self._committed()

    # ------------------------------------------------------------ the checkpointer

    CHECKPOINT_EVERY = 0.1
    """The least time, in seconds, between two of the checkpointer's checkpoints."""

    def _checkpoint_loop(self, conn: sqlite3.Connection) -> None:
        """Copy what the writer committed from the WAL into the file, on a thread of its own.

        A checkpoint the writer ran itself would hold every write waiting
        behind it while it copies and syncs (10,000 pages took up to 0.1 s).
        Here a passive checkpoint runs at most every :attr:`CHECKPOINT_EVERY`
        seconds after a commit, alongside the writer's next transactions:
        it never waits for a lock, and copies a page changed by many commits
        once. Another process's checkpoint under way makes one of these a no-op.
        """
        try:
            while True:
                self._checkpoint_due.wait()
                if self._checkpoint_stop.is_set():
                    return
                self._checkpoint_due.clear()
                with contextlib.suppress(sqlite3.Error):  # busy: the next one copies it
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                if self._checkpoint_stop.wait(self.CHECKPOINT_EVERY):
                    return
        finally:
            conn.close()

    # ------------------------------------------------------------ the feed, written

    def _append_feed(self, c: sqlite3.Connection, rows: Sequence[FeedRow]) -> None:
        """Append *rows* to the feed, in the transaction of the write they report."""
        if rows:
            c.executemany(
                "INSERT INTO feed (at, kind, subject, survey_id, detail) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._feed_pending = True

    def _committed(self) -> None:
        """On the writer thread, after a transaction commits: wake the feed's waiters."""
        if not self._feed_pending:
            return
        self._feed_pending = False
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_feed)

    def _wake_feed(self) -> None:
        signal, self._feed_signal = self._feed_signal, asyncio.Event()
        if signal is not None:
            signal.set()

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            msg = "the store is not open (use `async with store:` or `await store.open()`)"
            raise StoreError(msg)
        op = _Op(fn)
        self._queue.put(op)
        return await op.future  # type: ignore[no-any-return]

    async def _write_one_of_many(
        self, many: Callable[[sqlite3.Connection, list[Any]], list[T]], item: object
    ) -> T:
        """Write *item* with the items of the like writes queued next to it: one call of *many*.

        *many* takes the items of a run of writes queued one after another with
        the same *many*, in one savepoint, and returns each one's value in
        order. If it raises, the whole run is rolled back and each of its
        callers gets the error (then goes its own way, one write at a time).
        """
        if self._writer is None:
            msg = "the store is not open (use `async with store:` or `await store.open()`)"
            raise StoreError(msg)
        op = _Op(lambda c: many(c, [item])[0], many, item)
        self._queue.put(op)
        return await op.future  # type: ignore[no-any-return]

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            msg = "the store is not open (use `async with store:` or `await store.open()`)"
            raise StoreError(msg)
        op = _Op(fn)
        self._reads.put(op)
        return await op.future  # type: ignore[no-any-return]

    @staticmethod
    def _read_loop(
        reads: queue.SimpleQueue[_Op | object], conns: queue.SimpleQueue[sqlite3.Connection]
    ) -> None:
        """A reader thread: run reads, each on whichever connection is free, until told to stop."""
        while True:
            op = reads.get()
            if op is _STOP:
                return
            assert isinstance(op, _Op)  # noqa: S101 - for the type checker
            conn = conns.get()  # as many connections as threads: one is free
            try:
                outcome: Outcome = (op, op.fn(conn), None)
            except sqlite3.Error as exc:
                outcome = (op, None, _store_error(exc, writing=False))
            except BaseException as exc:  # noqa: BLE001 - the caller gets it
                outcome = (op, None, exc)
            finally:
                conns.put(conn)
            _hand_back([outcome])

    # ------------------------------------------------------------ schema

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            current = int(row[0]) if row else 0
            if current > SCHEMA_VERSION:
                raise schema_too_new(current)  # noqa: TRY301 - rolled back below, then re-raised
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                if version == SCORES_BACKFILLED_AT:
                    _backfill_scores(conn)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(version),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def schema_version(self) -> int:
        """The schema version of the open file."""
        row = await self._read(
            lambda c: c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        )
        return int(row[0])

    # ------------------------------------------------------------ audit

    def _audit(
        self,
        conn: sqlite3.Connection,
        entity: str,
        entity_id: str,
        action: str,
        **detail: Scalar | None,
    ) -> None:
        conn.execute(
            INSERT_AUDIT,
            (
                micros(self.clock.now()),
                entity,
                entity_id,
                action,
                to_json({k: v for k, v in detail.items() if v is not None}),
            ),
        )

    async def audit(self, entity: str | None = None) -> list[AuditEntry]:
        """The audit log, oldest first, optionally of one kind of entity."""

        def read(c: sqlite3.Connection) -> list[AuditEntry]:
            sql = "SELECT at, entity, entity_id, action, detail FROM audit"
            rows = (
                c.execute(sql + " WHERE entity = ? ORDER BY seq", (entity,))
                if entity
                else c.execute(sql + " ORDER BY seq")
            )
            return [
                AuditEntry(
                    at=from_micros(at), entity=e, entity_id=i, action=a, detail=json.loads(d)
                )
                for at, e, i, a, d in rows
            ]

        return await self._read(read)


def _hand_back(outcomes: Sequence[Outcome]) -> None:
    """On a store thread: give each op's outcome to its caller, waking each loop once.

    A group of writes wakes its callers' loop once, not once a write.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, some in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, some)


def _settle(outcomes: Sequence[Outcome]) -> None:
    """On the callers' loop: set each op's future, unless its caller gave up waiting.

    A caller cancelled while its write was queued (a timeout) no longer waits:
    the write stands, as it ran, and nobody is told.
    """
    for op, value, error in outcomes:
        if op.future.done():
            continue
        if error is None:
            op.future.set_result(value)
        else:
            op.future.set_exception(error)


def _store_error(exc: BaseException, *, writing: bool) -> BaseException:
    """What to raise for *exc*, raised by a read or a write: SQLite's own errors become the port's.

    A unique key taken is a :class:`~cxcore.ConflictError`; any other SQLite
    error (a trigger or a CHECK refusing a row, a full disk) a
    :class:`~cxcore.StoreError` saying that nothing was written, as
    PostgreSQL's errors are. Anything else is raised as it is.
    """
    if not isinstance(exc, sqlite3.Error):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
        error: StoreError = ConflictError(str(exc))
    elif writing:
        error = StoreError(f"SQLite failed; nothing was written: {exc}")
    else:
        error = StoreError(f"SQLite failed to read: {exc}")
    error.__cause__ = exc
    return error
