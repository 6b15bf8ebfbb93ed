"""Closed-loop cases in the PostgreSQL store."""

from __future__ import annotations

from datetime import datetime

from cxcore.model.case import Case, CaseStatus
from cxcore.ports.store import ConflictError, StoreError
from cxcore.stores._case_rows import CASE_COLUMNS, case_from_row
from cxcore.stores._rows import maybe_micros, micros
from cxcore.stores.postgres._base import _Base
from cxcore.stores.postgres._connection import Conn, _all, _one


class _Cases(_Base):
    """Closed-loop cases: opened, moved on, listed."""

    # ------------------------------------------------------------ cases

    async def open_case(self, case: Case) -> None:
        """Store a new closed-loop case.

        Raises:
            ConflictError: If a case with this id exists.
        """

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                "INSERT INTO cases (id, owner, status, reason, opened_at, updated_at, due_at, response_id, "
                "customer_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
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
            if inserted is None:
                msg = f"case {case.id!r} already exists"
                raise ConflictError(msg)
            await self._audit(
                c, "case", case.id, "opened", owner=case.owner, status=case.status.value
            )

        await self._write(write)

    async def update_case(
        self, case_id: str, status: CaseStatus, *, at: datetime, owner: str | None = None
    ) -> Case:
        """Move a case to *status* (and to another *owner*, if given).

        Raises:
            StoreError: If the case is not stored.
        """
        status = CaseStatus(status)

        async def write(c: Conn) -> Case:
            row = await _one(
                c,
                "UPDATE cases SET status = %s, owner = coalesce(%s, owner), updated_at = %s "
                f"WHERE id = %s RETURNING {CASE_COLUMNS}",
                (status.value, owner, micros(at), case_id),
            )
            if row is None:
                msg = f"no case {case_id!r} is stored"
                raise StoreError(msg)
            await self._audit(c, "case", case_id, status.value, owner=owner)
            return case_from_row(row)

        return await self._write(write)

    async def cases(self, status: CaseStatus | None = None) -> list[Case]:
        """Cases by due time, then opening time (only those in *status*, if given)."""
        sql = f"SELECT {CASE_COLUMNS} FROM cases"
        order = " ORDER BY due_at IS NULL, due_at, opened_at"
        params: tuple[str, ...] = () if status is None else (CaseStatus(status).value,)
        query = sql + ("" if status is None else " WHERE status = %s") + order
        rows = await self._read(lambda c: _all(c, query, params))
        return [case_from_row(r) for r in rows]
