"""A PostgreSQL connection as the store uses it: one statement, and its first row, its rows, or ``COPY``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow

Conn = psycopg.AsyncConnection[TupleRow]


async def _one(conn: Conn, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    cur = await conn.execute(sql, params)
    return await cur.fetchone()


async def _all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql, params)
    return await cur.fetchall()


async def _copy(c: Conn, statement: str, rows: Iterable[Sequence[Any]]) -> None:
    """Send *rows* to a ``COPY ... FROM STDIN`` *statement*."""
    async with c.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)
