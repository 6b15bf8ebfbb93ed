"""Closed-loop cases in the SQLite store."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cxcore.model.case import Case, CaseStatus
from cxcore.ports.store import ConflictError, StoreError
from cxcore.stores._case_rows import CASE_COLUMNS, case_from_row
from cxcore.stores._rows import maybe_micros, micros
from cxcore.stores.sqlite._base import _Base


class _Cases(_Base):
    """Closed-loop cases: opened, moved on, listed."""

    # ------------------------------------------------------------ cases

    async def open_case(self, case: Case) -> None:
        """Store a new closed-loop case.

        Raises:
            ConflictError: If a case with this id exists.
        """

        def write(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO cases (id, owner, status, reason, opened_at, updated_at, due_at, response_id, "
                    "customer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        case.id,
                        case.owner,
                        case.status.value,
                        case.reason,
                        micros(case.opened_at),
                        micros(case.updated_at),
                        maybe_micros(case.due_at),
                        case.response_id,
                        case.customer_id,
                    ),
                )
            except sqlite3.IntegrityError:
                msg = f"case {case.id!r} already exists"
                raise ConflictError(msg) from None
            self._audit(c, "case", case.id, "opened", owner=case.owner, status=case.status.value)

        await self._write(write)

    async def update_case(
        self, case_id: str, status: CaseStatus, *, at: datetime, owner: str | None = None
    ) -> Case:
        """Move a case to *status* (and to another *owner*, if given)."""
        status = CaseStatus(status)

        def write(c: sqlite3.Connection) -> Case:
            if (
                c.execute(
                    "UPDATE cases SET status = ?, owner = coalesce(?, owner), updated_at = ? WHERE id = ?",
                    (status.value, owner, micros(at), case_id),
                ).rowcount
                == 0
            ):
                msg = f"no case {case_id!r} is stored"
                raise StoreError(msg)
            self._audit(c, "case", case_id, status.value, owner=owner)
            return _fetch_case(c, case_id)

        return await self._write(write)

    async def cases(self, status: CaseStatus | None = None) -> list[Case]:
        """Cases by due time, then opening time (only those in *status*, if given)."""

        def read(c: sqlite3.Connection) -> list[Case]:
            sql = f"SELECT {CASE_COLUMNS} FROM cases"
            order = " ORDER BY due_at IS NULL, due_at, opened_at"
            rows = (
                c.execute(sql + " WHERE status = ?" + order, (CaseStatus(status).value,))
                if status is not None
                else c.execute(sql + order)
            )
            return [case_from_row(r) for r in rows]

        return await self._read(read)


def _fetch_case(c: sqlite3.Connection, case_id: str) -> Case:
    row = c.execute(f"SELECT {CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,)).fetchone()
    return case_from_row(row)
