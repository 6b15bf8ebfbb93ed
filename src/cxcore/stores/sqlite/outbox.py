"""Invitations and the outbox in the SQLite store: dispositions, and sends enqueued, claimed, finished, released."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from cxcore.definitions import structure, unstructure
from cxcore.model.customer import Purpose
from cxcore.model.invitation import Disposition, Invitation
from cxcore.ports.store import (
    AddedInvitation,
    ClaimedSend,
    ConflictError,
    Enqueued,
    Finish,
    InviteGuard,
    OutboxItem,
    OutboxState,
    StoreError,
    StoreLimitError,
)
from cxcore.stores._analytics import context_key
from cxcore.stores._checks import check_limit
from cxcore.stores._finishes import check_claim, check_finishes, judge_finishes
from cxcore.stores._outbox_rows import (
    INVITATION_COLUMNS,
    OUTBOX_COLUMNS,
    SEND_COLUMNS,
    ClaimedRows,
    InvitationBatch,
    SendBatch,
    claimed_sends,
    outbox_from_row,
    send_row,
)
from cxcore.stores._rows import (
    address_hash,
    audit_detail,
    from_micros,
    maybe_micros,
    micros,
    to_json,
)
from cxcore.stores.sqlite._base import INSERT_AUDIT, _Base, _store_error

_INSERT_SEND = (
    f"INSERT INTO outbox ({SEND_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
)
_OUTBOX_COLUMNS_OF_O = ", ".join(f"o.{c}" for c in OUTBOX_COLUMNS.split(", "))


class _Outbox(_Base):
    """Invitations, their dispositions, and the outbox of their sends."""

    # ------------------------------------------------------------ invitations

    async def add_invitation(
        self, invitation: Invitation, *, outbox: Iterable[OutboxItem] = ()
    ) -> None:
        """Store an invitation, and the sends it needs, in one transaction.

        Adding the same again does nothing; sends already queued are kept as
        they are, so a crash between deciding and queueing never loses a send
        and a repeat never doubles one.

        Raises:
            ConflictError: If another invitation has this id.
        """
        body = to_json(unstructure(invitation))
        items = list(outbox)

        def write(c: sqlite3.Connection) -> None:
            row = c.execute(
                "SELECT body FROM invitations WHERE id = ?", (invitation.id,)
            ).fetchone()
            if row is not None:
                if row[0] != body:
                    msg = f"invitation {invitation.id!r} is already stored with other content"
                    raise ConflictError(msg)
                self._enqueue(c, items)
                return
            c.execute(
                f"INSERT INTO invitations ({INVITATION_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    invitation.id,
                    invitation.survey_id,
                    invitation.survey_version,
                    invitation.channel,
                    invitation.customer_id,
                    invitation.address,
                    micros(invitation.created_at),
                    body,
                    invitation.account_id,
                    invitation.short_code,
                ),
            )
            self._audit(c, "invitation", invitation.id, "created", channel=invitation.channel)
            self._enqueue(c, items)

        await self._write(write)

    async def add_invitations(
        self,
        entries: Sequence[tuple[Invitation, Sequence[OutboxItem]]],
        *,
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> list[AddedInvitation | StoreError]:
        """As :meth:`Store.add_invitations <cxcore.Store.add_invitations>`: one op on the writer.

        The new invitations, their audit entries and their sends are inserted
        with one ``executemany`` each; if that fails, each is inserted alone
        (in a savepoint of its own), so that only the entry at fault fails.
        The guarded customers' and accounts' latest invitations are read in
        the same transaction, which holds the database's write lock: no other
        process can invite them in between.

        .. versionadded:: 0.1.0
        """
        batch = InvitationBatch(entries, guards)
        ids = list(batch.candidates)
        guarded, accounts, store_days = batch.guarded, batch.guarded_accounts, batch.store_days
        stratum_days = batch.stratum_days

        def write(c: sqlite3.Connection) -> tuple[dict[str, str], dict[int, StoreError]]:
            stored: dict[str, str] = dict(
                c.execute(
                    "SELECT id, body FROM invitations WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                ).fetchall()
            )
            new = [n for i, n in batch.candidates.items() if i not in stored]
            failed: dict[int, StoreError] = {}
            if guarded or accounts or store_days or stratum_days:
                # SQLite gives the id of the row whose created_at is the max.
                by_survey = _latest(
                    c,
                    "SELECT customer_id, survey_id, id, max(created_at) FROM invitations "
                    "WHERE customer_id IN (SELECT value FROM json_each(?)) "
                    "GROUP BY customer_id, survey_id",
                    guarded,
                )
                by_account = _latest(
                    c,
                    "SELECT account_id, '', id, max(created_at) FROM invitations "
                    "WHERE account_id IN (SELECT value FROM json_each(?)) GROUP BY account_id",
                    accounts,
                )
                counted = _store_day_counts(c, store_days)
                strata = _stratum_day_counts(c, stratum_days)
                failed = batch.refused(by_survey, by_account, new, counted, strata)
                new = [n for n in new if n not in failed]
            c.execute("SAVEPOINT invitations")
            try:
                self._insert_invitations(c, batch, new)
            except Exception:  # noqa: BLE001 - one entry at fault: find it, below
                c.execute("ROLLBACK TO invitations")
                for n in new:
                    c.execute("SAVEPOINT invitation")
                    try:
                        self._insert_invitations(c, batch, [n])
                    except Exception as exc:  # noqa: BLE001 - this entry fails alone
                        c.execute("ROLLBACK TO invitation")
                        error: Exception | None = exc
                        if "invitations.short_code" in str(exc) and batch.without_short_code(n):
                            try:  # another invitation holds its code: the long link will do
                                self._insert_invitations(c, batch, [n])
                                error = None
                            except Exception as again:  # noqa: BLE001 - fails alone, as above
                                c.execute("ROLLBACK TO invitation")
                                error = again
                        if error is not None:
                            failed[n] = StoreError(
                                f"invitation {batch.entries[n][0].id!r}: "
                                f"{_store_error(error, writing=True)}"
                            )
                    c.execute("RELEASE invitation")
            c.execute("RELEASE invitations")
            if store_days:
                _count_store_days(c, batch.store_counts(n for n in new if n not in failed))
            if stratum_days:
                _count_stratum_days(c, batch.stratum_counts(n for n in new if n not in failed))
            return stored, failed

        stored, failed = await self._write(write)
        return batch.results(stored, failed)

    def _insert_invitations(
        self, c: sqlite3.Connection, batch: InvitationBatch, new: Sequence[int]
    ) -> None:
        c.executemany(
            f"INSERT INTO invitations ({INVITATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [batch.row(n) for n in new],
        )
        at = micros(self.clock.now())
        c.executemany(INSERT_AUDIT, batch.audit_rows(new, at))
        self._enqueue(c, [item for n in new for item in batch.items(n)])

    async def invitation_by_short_code(self, code: str) -> Invitation | None:
        """As :meth:`Store.invitation_by_short_code <cxcore.Store.invitation_by_short_code>`."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT id, body FROM invitations WHERE short_code = ?", (code,)
            ).fetchone()
        )
        if row is None:
            return None
        return structure(json.loads(row[1]), Invitation, source=f"stored invitation {row[0]}")

    async def invitation(self, invitation_id: str) -> Invitation:
        """Return one invitation.

        Raises:
            StoreError: If there is none with that id.
        """
        row = await self._read(
            lambda c: c.execute(
                "SELECT body FROM invitations WHERE id = ?", (invitation_id,)
            ).fetchone()
        )
        if row is None:
            msg = f"no invitation {invitation_id!r} is stored"
            raise StoreError(msg)
        return structure(
            json.loads(row[0]), Invitation, source=f"stored invitation {invitation_id}"
        )

    async def record_disposition(
        self, invitation_id: str, disposition: Disposition, at: datetime, detail: str | None = None
    ) -> None:
        """Record what became of an invitation; the first time of each disposition is kept.

        Raises:
            StoreError: If the invitation is not stored.
        """
        disposition = Disposition(disposition)

        def write(c: sqlite3.Connection) -> None:
            if (
                c.execute("SELECT 1 FROM invitations WHERE id = ?", (invitation_id,)).fetchone()
                is None
            ):
                msg = f"no invitation {invitation_id!r} is stored"
                raise StoreError(msg)
            inserted = c.execute(
                "INSERT INTO dispositions (invitation_id, disposition, at, detail) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (invitation_id, disposition) DO NOTHING",
                (invitation_id, disposition.value, micros(at), detail),
            ).rowcount
            if inserted:
                self._audit(c, "invitation", invitation_id, disposition.value)

        await self._write(write)

    async def dispositions(self, invitation_id: str) -> list[tuple[Disposition, datetime]]:
        """Every disposition of an invitation, oldest first."""
        rows = await self._read(
            lambda c: c.execute(
                "SELECT disposition, at FROM dispositions WHERE invitation_id = ? ORDER BY at, disposition",
                (invitation_id,),
            ).fetchall()
        )
        return [(Disposition(d), from_micros(at)) for d, at in rows]

    async def disposition_counts(
        self, *, survey_id: str | None = None, by: Sequence[str] = ("channel",)
    ) -> dict[tuple[str | None, ...], dict[Disposition, int]]:
        """How many invitations reached each disposition, per segment.

        Args:
            survey_id: Only this survey's invitations.
            by: ``"channel"``, ``"survey_id"``, or any key of the invitations'
                context (``"store"``, ``"touchpoint"``).

        Returns:
            Segment (a tuple of values in *by* order) to disposition to count.
        """
        exprs: list[str] = []
        params: list[Any] = []
        for key in by:
            if key in ("channel", "survey_id"):
                exprs.append(f"i.{key}")
            else:
                exprs.append("json_extract(i.body, ?)")
                params.append(f"$.context.{context_key(key)}")
        select = ", ".join(exprs) if exprs else "NULL"
        sql = (
            f"SELECT {select}, d.disposition, count(*) FROM dispositions d "
            "JOIN invitations i ON i.id = d.invitation_id"
        )
        if survey_id is not None:
            sql += " WHERE i.survey_id = ?"
            params.append(survey_id)
        sql += (
            f" GROUP BY {', '.join(str(n) for n in range(1, len(exprs) + 2)) if exprs else '1, 2'}"
        )
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        result: dict[tuple[str | None, ...], dict[Disposition, int]] = {}
        width = max(len(exprs), 1)
        for row in rows:
            segment = tuple(row[:width]) if exprs else ()
            result.setdefault(segment, {})[Disposition(row[width])] = row[width + 1]
        return result

    # ------------------------------------------------------------ outbox

    async def enqueue(
        self,
        items: Iterable[OutboxItem],
        *,
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> list[Enqueued | StoreError]:
        """As :meth:`Store.enqueue <cxcore.Store.enqueue>`: one op on the writer.

        The items queued before are read, and the guarded stores' counts of
        the day, in the write's transaction, which holds the database's write
        lock: no other process can queue or invite in between.

        .. versionadded:: 0.1.0
        """
        batch = SendBatch(items, guards)
        if not batch.items:
            return []
        ids = list(batch.candidates)
        store_days = batch.store_days

        def write(c: sqlite3.Connection) -> tuple[set[str], dict[int, StoreLimitError]]:
            queued = {
                row[0]
                for row in c.execute(
                    "SELECT id FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                )
            }
            refused = batch.refused(queued, _store_day_counts(c, store_days))
            new = [n for i, n in batch.candidates.items() if i not in queued and n not in refused]
            c.executemany(_INSERT_SEND, batch.rows(new, micros(self.clock.now())))
            if store_days:
                _count_store_days(c, batch.store_counts(new))
            return {batch.items[n].id for n in new}, refused

        inserted, refused = await self._write(write)
        return batch.results(inserted, refused)

    def _enqueue(self, c: sqlite3.Connection, batch: Sequence[OutboxItem]) -> None:
        if batch:
            now = micros(self.clock.now())
            c.executemany(_INSERT_SEND, [send_row(i, now) for i in batch])

    async def claim(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[str] | None = None,
    ) -> list[OutboxItem]:
        """Claim up to *limit* due pending sends for *worker*, oldest due first.

        A claim lasts *lease*; :meth:`release_expired` hands back claims whose
        worker died. Two workers never claim the same send. With *channels*,
        only sends on those channels are claimed (a dispatcher claims what it
        can send).
        """
        check_limit(limit)
        only = list(channels) if channels is not None else None

        def write(c: sqlite3.Connection) -> list[OutboxItem]:
            return [
                _fetch_outbox(c, i)
                for i in _claim_ids(c, worker, now=now, limit=limit, lease=lease, only=only)
            ]

        return await self._write(write)

    async def claim_sends(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[str] | None = None,
        purpose: Purpose = Purpose.SURVEY,
    ) -> list[ClaimedSend]:
        """As :meth:`Store.claim_sends <cxcore.Store.claim_sends>`.

        Here three queries in the claim's transaction read the claimed items
        with their invitations, the suppressions, and the consent entries.

        .. versionadded:: 0.1.0
        """
        check_limit(limit)
        only = list(channels) if channels is not None else None
        purpose = Purpose(purpose)

        def write(c: sqlite3.Connection) -> ClaimedRows:
            ids = _claim_ids(c, worker, now=now, limit=limit, lease=lease, only=only)
            if not ids:
                return [], [], []
            order = {item_id: n for n, item_id in enumerate(ids)}
            rows = sorted(
                c.execute(
                    f"SELECT {_OUTBOX_COLUMNS_OF_O}, i.customer_id, i.address, i.body FROM outbox o "
                    "LEFT JOIN invitations i ON i.id = o.invitation_id "
                    "WHERE o.id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                ).fetchall(),
                key=lambda row: order[row[0]],
            )
            hashes = sorted({address_hash(r[-2]) for r in rows if r[-2] is not None})
            people = sorted({p for r in rows for p in r[-3:-1] if p is not None})
            suppressions = c.execute(
                "SELECT address_hash, channel, reason FROM suppressions "
                "WHERE address_hash IN (SELECT value FROM json_each(?))",
                (json.dumps(hashes),),
            ).fetchall()
            consents = c.execute(
                "SELECT person, channel, purpose, granted, source, recorded_at, rowid FROM consent "
                "WHERE person IN (SELECT value FROM json_each(?)) AND purpose = ?",
                (json.dumps(people), purpose.value),
            ).fetchall()
            return rows, suppressions, consents

        return claimed_sends(*await self._write(write))

    async def finish_many(
        self, finishes: Sequence[Finish], *, worker: str | None = None
    ) -> list[OutboxItem | StoreError]:
        """As :meth:`Store.finish_many <cxcore.Store.finish_many>`, with one ``fsync`` for them all.

        .. versionadded:: 0.1.0
        """
        batch = check_finishes(finishes)
        if not batch:
            return []

        def write(c: sqlite3.Connection) -> list[OutboxItem | StoreError]:
            current = {
                row[0]: outbox_from_row(row)
                for row in c.execute(
                    f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps([f.item_id for f in batch]),),
                )
            }
            wanted = sorted(
                {
                    current[f.item_id].invitation_id
                    for f in batch
                    if f.disposition is not None and f.item_id in current
                }
            )
            stored = {
                r[0]
                for r in c.execute(
                    "SELECT id FROM invitations WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(wanted),),
                )
            }
            verdicts = judge_finishes(batch, current, stored, worker)
            done = [
                (f, current[f.item_id]) for f, v in zip(batch, verdicts, strict=True) if v is None
            ]
            c.executemany(
                "UPDATE outbox SET state = ?, claimed_by = NULL, claimed_until = NULL, provider_id = "
                "coalesce(?, provider_id), last_error = ?, due_at = coalesce(?, due_at), updated_at = ? WHERE id = ?",
                [
                    (
                        f.state.value,
                        f.provider_id,
                        f.error,
                        maybe_micros(f.retry_at),
                        micros(f.at),
                        f.item_id,
                    )
                    for f, _ in done
                ],
            )
            audit_at = micros(self.clock.now())
            audit: list[tuple[Any, ...]] = []
            for f, item in done:
                detail = {"attempts": item.attempts, "error": f.error}
                audit.append((audit_at, "outbox", f.item_id, f.state.value, audit_detail(detail)))
                if (
                    f.disposition is not None
                    and c.execute(
                        "INSERT INTO dispositions (invitation_id, disposition, at, detail) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (invitation_id, disposition) DO NOTHING",
                        (
                            item.invitation_id,
                            f.disposition.value,
                            micros(f.at),
                            f.disposition_detail,
                        ),
                    ).rowcount
                ):
                    audit.append(
                        (
                            audit_at,
                            "invitation",
                            item.invitation_id,
                            f.disposition.value,
                            audit_detail({}),
                        )
                    )
            c.executemany(
                "INSERT INTO audit (at, entity, entity_id, action, detail) VALUES (?, ?, ?, ?, ?)",
                audit,
            )
            after = {
                row[0]: outbox_from_row(row)
                for row in c.execute(
                    f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps([f.item_id for f, _ in done]),),
                )
            }
            return [
                after[f.item_id] if v is None else v for f, v in zip(batch, verdicts, strict=True)
            ]

        return await self._write(write)

    async def finish(
        self,
        item_id: str,
        state: OutboxState,
        *,
        at: datetime,
        provider_id: str | None = None,
        error: str | None = None,
        retry_at: datetime | None = None,
        worker: str | None = None,
    ) -> OutboxItem:
        """Record the end of an attempt: sent, failed, unknown, suppressed, or pending again at *retry_at*.

        A dispatcher passes its *worker* id: the outcome is recorded only while
        the send is still claimed by it, so a late finish never overwrites what
        happened since (a lease that ran out, an operator's decision). Without
        *worker* (an operator), the outcome is recorded whatever the state.

        Raises:
            ClaimLostError: If *worker* no longer holds the claim.
            StoreError: If the send is not stored, or *retry_at* is missing for pending.
        """
        state = OutboxState(state)
        if state is OutboxState.PENDING and retry_at is None:
            msg = "retry_at is required to put a send back to pending"
            raise StoreError(msg)

        def write(c: sqlite3.Connection) -> OutboxItem:
            current = _fetch_outbox(c, item_id)
            if worker is not None:
                check_claim(current, worker)
            c.execute(
                "UPDATE outbox SET state = ?, claimed_by = NULL, claimed_until = NULL, provider_id = "
                "coalesce(?, provider_id), last_error = ?, due_at = coalesce(?, due_at), updated_at = ? WHERE id = ?",
                (state.value, provider_id, error, maybe_micros(retry_at), micros(at), item_id),
            )
            self._audit(c, "outbox", item_id, state.value, attempts=current.attempts, error=error)
            return _fetch_outbox(c, item_id)

        return await self._write(write)

    async def release_expired(
        self, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back claims whose lease ran out (their worker died), as *to*.

        The default, ``unknown``, is the safe one: the worker may have reached
        the provider before dying, so the send is reconciled, not repeated.
        """
        return await self._release("claimed_until < ?", micros(now), now=now, to=to)

    async def release_claims(
        self, worker: str, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back every claim *worker* holds, as *to*, without waiting for leases to run out.

        A dispatcher that restarts under the same worker id calls this first:
        its earlier process is gone, so its claims are known to be orphaned.
        """
        return await self._release("claimed_by = ?", worker, now=now, to=to)

    async def _release(
        self, condition: str, value: str | int, *, now: datetime, to: OutboxState
    ) -> list[OutboxItem]:
        target = OutboxState(to)

        def write(c: sqlite3.Connection) -> list[OutboxItem]:
            ids = [
                r[0]
                for r in c.execute(
                    f"SELECT id FROM outbox WHERE state = 'sending' AND {condition}", (value,)
                )
            ]
            for i in ids:
                c.execute(
                    "UPDATE outbox SET state = ?, claimed_by = NULL, claimed_until = NULL, updated_at = ? WHERE id = ?",
                    (target.value, micros(now), i),
                )
                self._audit(c, "outbox", i, f"released:{target.value}")
            return [_fetch_outbox(c, i) for i in ids]

        return await self._write(write)

    async def outbox(self, state: OutboxState | None = None) -> list[OutboxItem]:
        """The outbox, by due time (only one state's sends, if given)."""

        def read(c: sqlite3.Connection) -> list[OutboxItem]:
            sql = f"SELECT {OUTBOX_COLUMNS} FROM outbox"
            rows = (
                c.execute(sql + " WHERE state = ? ORDER BY due_at, id", (OutboxState(state).value,))
                if state is not None
                else c.execute(sql + " ORDER BY due_at, id")
            )
            return [outbox_from_row(r) for r in rows]

        return await self._read(read)


def _due_ids_sql(only: Sequence[str] | None) -> str:
    """The query of the ids of due pending sends, in the order claims take them.

    Its parameters are the time now, each channel of *only* (when given, only
    sends on those channels are due), then the limit. It reads the sends off
    ``outbox_by_state_due`` in that order and stops at the limit, however many
    are due: nothing is sorted.
    """
    sql = "SELECT id FROM outbox WHERE state = 'pending' AND due_at <= ?"
    if only is not None:
        sql += f" AND channel IN ({', '.join('?' * len(only)) or 'NULL'})"
    return sql + " ORDER BY due_at, id LIMIT ?"


def _claim_ids(
    c: sqlite3.Connection,
    worker: str,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    only: Sequence[str] | None,
) -> list[str]:
    """Claim up to *limit* due pending sends for *worker*; their ids, oldest due first."""
    rows = c.execute(_due_ids_sql(only), (micros(now), *(only or ()), limit)).fetchall()
    ids = [r[0] for r in rows]
    until = micros(now + lease)
    c.executemany(
        "UPDATE outbox SET state = 'sending', claimed_by = ?, claimed_until = ?, "
        "attempts = attempts + 1, updated_at = ? WHERE id = ?",
        [(worker, until, micros(now), i) for i in ids],
    )
    return ids


def _fetch_outbox(c: sqlite3.Connection, item_id: str) -> OutboxItem:
    row = c.execute(f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        msg = f"no outbox item {item_id!r} is stored"
        raise StoreError(msg)
    return outbox_from_row(row)


def _store_day_counts(
    c: sqlite3.Connection, store_days: Sequence[tuple[str, int]]
) -> list[tuple[str, int, int]]:
    """The stored counts of *store_days*: (store, day, invited) rows (none read when there are none)."""
    if not store_days:
        return []
    return c.execute(
        "SELECT store, day, invited FROM store_day_counts WHERE (store, day) IN "
        "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
        (json.dumps(store_days),),
    ).fetchall()


def _count_store_days(c: sqlite3.Connection, added: Sequence[tuple[str, int, int]]) -> None:
    """Add what a guarded write made to each store's count of the day: (store, day, added) rows."""
    c.executemany(
        "INSERT INTO store_day_counts (store, day, invited) VALUES (?, ?, ?) "
        "ON CONFLICT (store, day) DO UPDATE "
        "SET invited = store_day_counts.invited + excluded.invited",
        added,
    )


def _stratum_day_counts(
    c: sqlite3.Connection, stratum_days: Sequence[tuple[str, str, int]]
) -> list[tuple[str, str, int, int]]:
    """The stored counts of *stratum_days*: (rule, stratum, day, invited) rows (none read when there are none)."""
    if not stratum_days:
        return []
    return c.execute(
        "SELECT rule, stratum, day, invited FROM stratum_day_counts WHERE (rule, stratum, day) IN "
        "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        "json_extract(value, '$[2]') FROM json_each(?))",
        (json.dumps(stratum_days),),
    ).fetchall()


def _count_stratum_days(c: sqlite3.Connection, added: Sequence[tuple[str, str, int, int]]) -> None:
    """Add what a guarded write made to each stratum's count of the day: (rule, stratum, day, added) rows."""
    c.executemany(
        "INSERT INTO stratum_day_counts (rule, stratum, day, invited) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (rule, stratum, day) DO UPDATE "
        "SET invited = stratum_day_counts.invited + excluded.invited",
        added,
    )


def _latest(c: sqlite3.Connection, sql: str, keys: list[str]) -> list[tuple[str, str, str, int]]:
    """The latest invitations *sql* reads for *keys* (none read when there are none)."""
    return c.execute(sql, (json.dumps(keys),)).fetchall() if keys else []
