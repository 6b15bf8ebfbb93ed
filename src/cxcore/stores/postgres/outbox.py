"""Invitations and the outbox in the PostgreSQL store: dispositions, and sends enqueued, claimed, finished, released."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
import psycopg.errors

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
from cxcore.stores.postgres._base import _LOCK_CONTACT, _Base, _Retry, _store_error
from cxcore.stores.postgres._connection import Conn, _all, _one
from cxcore.stores.postgres._dialect import _jsonb_scalar

_CLAIM_DUE = (
    "UPDATE outbox o SET state = 'sending', claimed_by = %s, claimed_until = %s, "
    "attempts = o.attempts + 1, updated_at = %s WHERE o.id = ANY(ARRAY("
    "SELECT id FROM outbox WHERE state = 'pending' AND due_at <= %s "
    "AND (%s::text[] IS NULL OR channel = ANY(%s::text[])) "
    'ORDER BY due_at, id COLLATE "C" LIMIT %s FOR UPDATE SKIP LOCKED)) '
    f"RETURNING {', '.join(f'o.{c}' for c in OUTBOX_COLUMNS.split(', '))}"
)
"""Claim due pending sends; parameters: the worker, the claim's end, now; then now, the
channels (or NULL for all) twice, and the limit.

The sends are picked and locked (``FOR UPDATE SKIP LOCKED``) in claim order off
``outbox_by_state_due``, which is in that order, so the pick stops at the limit however
many are due. The picked ids are then updated through the primary key: as an array, not a
join, which the planner would hash over a scan of the whole outbox when it thinks the
table small."""
_CLAIM_SENDS = (
    f"WITH claimed AS ({_CLAIM_DUE}) "
    f"SELECT {', '.join(f'claimed.{c}' for c in OUTBOX_COLUMNS.split(', '))}, "
    "i.customer_id, i.address, i.body FROM claimed "
    "LEFT JOIN invitations i ON i.id = claimed.invitation_id "
    'ORDER BY claimed.due_at, claimed.id COLLATE "C"'
)
"""Claim due pending sends as ``_CLAIM_DUE`` does (same parameters), each with its
invitation's customer, address and body, in claim order."""


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

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                f"INSERT INTO invitations ({INVITATION_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
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
            if inserted is None:
                row = await _one(c, "SELECT body FROM invitations WHERE id = %s", (invitation.id,))
                if row is None:
                    raise _Retry
                if row[0] != body:
                    msg = f"invitation {invitation.id!r} is already stored with other content"
                    raise ConflictError(msg)
                await self._enqueue(c, items)
                return
            await self._audit(c, "invitation", invitation.id, "created", channel=invitation.channel)
            await self._enqueue(c, items)

        await self._write(write)

    async def add_invitations(
        self,
        entries: Sequence[tuple[Invitation, Sequence[OutboxItem]]],
        *,
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> list[AddedInvitation | StoreError]:
        """As :meth:`Store.add_invitations <cxcore.Store.add_invitations>`: one transaction.

        The invitations go in one ``INSERT ... ON CONFLICT DO NOTHING`` from
        arrays, which says which of them were new; then their audit entries
        and sends. If that fails on a value, each goes alone, in a savepoint,
        so that only the entry at fault fails. Guarded customers, accounts,
        stores' days and sampling strata's days are locked first (a
        transaction-level advisory lock each, in one order), so a writer that
        invites one of them in another process waits for this transaction,
        then sees its invitation (or its count).

        .. versionadded:: 0.1.0
        """
        batch = InvitationBatch(entries, guards)
        guarded = batch.guarded or batch.guarded_accounts or batch.store_days or batch.stratum_days

        async def write(c: Conn) -> tuple[dict[str, str], dict[int, StoreError]]:
            failed: dict[int, StoreError] = {}
            candidates = list(batch.candidates.values())
            if guarded:
                failed = await self._refused(c, batch)
                candidates = [n for n in candidates if n not in failed]
            try:
                async with c.transaction():  # a savepoint
                    inserted = await self._insert_invitations(c, batch, candidates)
            except psycopg.Error as exc:
                if not _entry_at_fault(exc, c):
                    raise
                inserted = set()
                for n in candidates:
                    try:
                        async with c.transaction():
                            inserted |= await self._insert_invitations(c, batch, [n])
                    except psycopg.Error as refused:
                        if not _entry_at_fault(refused, c):
                            raise
                        if _short_code_taken(refused) and batch.without_short_code(n):
                            try:
                                async with c.transaction():
                                    inserted |= await self._insert_invitations(c, batch, [n])
                                continue
                            except psycopg.Error as again:
                                if not _entry_at_fault(again, c):
                                    raise
                                refused = again
                        failed[n] = StoreError(
                            f"invitation {batch.entries[n][0].id!r}: "
                            f"{_store_error(refused, c, committing=False)}"
                        )
            if batch.store_days or batch.stratum_days:
                await _count_days(
                    c, batch, [n for n in candidates if batch.entries[n][0].id in inserted]
                )
            others = [
                i for i, n in batch.candidates.items() if i not in inserted and n not in failed
            ]
            stored: dict[str, str] = {}
            if others:
                rows = await _all(
                    c, "SELECT id, body FROM invitations WHERE id = ANY(%s)", (others,)
                )
                stored = {row[0]: row[1] for row in rows}
                if len(stored) != len(others):  # removed since the insert: run it again
                    raise _Retry
            return stored, failed

        stored, failed = await self._write(write)
        return batch.results(stored, failed)

    async def _refused(self, c: Conn, batch: InvitationBatch) -> dict[int, StoreError]:
        """Lock the guarded customers, accounts, stores' and strata's days; which new candidates they refuse."""
        people, accounts, store_days = batch.guarded, batch.guarded_accounts, batch.store_days
        stratum_days = batch.stratum_days
        await _lock_contacts(
            c,
            [
                *people,
                *(f"account:{a}" for a in accounts),
                *_store_day_locks(store_days),
                *_stratum_day_locks(stratum_days),
            ],
        )
        # Each read only when something asks for it: a round trip each.
        counted = await _store_day_counts(c, store_days)
        strata = await _stratum_day_counts(c, stratum_days)
        by_survey = (
            await _all(
                c,
                "SELECT DISTINCT ON (customer_id, survey_id) customer_id, survey_id, id, created_at "
                "FROM invitations WHERE customer_id = ANY(%s) "
                "ORDER BY customer_id, survey_id, created_at DESC",
                (people,),
            )
            if people
            else []
        )
        by_account = (
            await _all(
                c,
                "SELECT DISTINCT ON (account_id) account_id, '', id, created_at FROM invitations "
                "WHERE account_id = ANY(%s) ORDER BY account_id, created_at DESC",
                (accounts,),
            )
            if accounts
            else []
        )
        stored = {
            row[0]
            for row in await _all(
                c, "SELECT id FROM invitations WHERE id = ANY(%s)", (list(batch.candidates),)
            )
        }
        new = [n for i, n in batch.candidates.items() if i not in stored]
        return batch.refused(by_survey, by_account, new, counted, strata)

    async def _insert_invitations(
        self, c: Conn, batch: InvitationBatch, candidates: Iterable[int]
    ) -> set[str]:
        """Insert the candidates whose id is not stored, with their audit entries and sends; their ids."""
        candidates = list(candidates)
        rows = [batch.row(n) for n in candidates]
        if not rows:
            return set()
        inserted = {
            row[0]
            for row in await _all(
                c,
                f"INSERT INTO invitations ({INVITATION_COLUMNS}) SELECT * FROM unnest(%s::text[], "
                "%s::text[], %s::int[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
                "%s::text[], %s::text[], %s::text[]) ON CONFLICT (id) DO NOTHING RETURNING id",
                [list(column) for column in zip(*rows, strict=True)],
            )
        }
        new = [n for n in candidates if batch.entries[n][0].id in inserted]
        if new:
            at = micros(self.clock.now())
            audit = batch.audit_rows(new, at)
            await c.execute(
                "INSERT INTO audit (at, entity, entity_id, action, detail) "
                "SELECT a.at, a.entity, a.entity_id, a.action, a.detail FROM unnest(%s::bigint[], "
                "%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY "
                "AS a(at, entity, entity_id, action, detail, n) ORDER BY a.n",
                [list(column) for column in zip(*audit, strict=True)],
            )
            await self._enqueue(c, [item for n in new for item in batch.items(n)])
        return inserted

    async def invitation_by_short_code(self, code: str) -> Invitation | None:
        """As :meth:`Store.invitation_by_short_code <cxcore.Store.invitation_by_short_code>`."""
        row = await self._read(
            lambda c: _one(c, "SELECT id, body FROM invitations WHERE short_code = %s", (code,))
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
            lambda c: _one(c, "SELECT body FROM invitations WHERE id = %s", (invitation_id,))
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

        async def write(c: Conn) -> None:
            # FOR SHARE: an erasure of the invitation waits for this, or this sees it gone.
            if (
                await _one(c, "SELECT 1 FROM invitations WHERE id = %s FOR SHARE", (invitation_id,))
                is None
            ):
                msg = f"no invitation {invitation_id!r} is stored"
                raise StoreError(msg)
            inserted = await _one(
                c,
                "INSERT INTO dispositions (invitation_id, disposition, at, detail) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (invitation_id, disposition) DO NOTHING RETURNING 1",
                (invitation_id, disposition.value, micros(at), detail),
            )
            if inserted is not None:
                await self._audit(c, "invitation", invitation_id, disposition.value)

        await self._write(write)

    async def dispositions(self, invitation_id: str) -> list[tuple[Disposition, datetime]]:
        """Every disposition of an invitation, oldest first."""
        rows = await self._read(
            lambda c: _all(
                c,
                'SELECT disposition, at FROM dispositions WHERE invitation_id = %s ORDER BY at, disposition COLLATE "C"',
                (invitation_id,),
            )
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
                exprs.append(_jsonb_scalar("(i.body::jsonb -> 'context' -> %s::text)"))
                params.extend([context_key(key)] * 3)  # the expression names it three times
        select = ", ".join(exprs) if exprs else "NULL"
        sql = (
            f"SELECT {select}, d.disposition, count(*) FROM dispositions d "
            "JOIN invitations i ON i.id = d.invitation_id"
        )
        if survey_id is not None:
            sql += " WHERE i.survey_id = %s"
            params.append(survey_id)
        sql += (
            f" GROUP BY {', '.join(str(n) for n in range(1, len(exprs) + 2)) if exprs else '1, 2'}"
        )
        rows = await self._scalar_rows(sql, params)
        result: dict[tuple[str | None, ...], dict[Disposition, int]] = {}
        width = max(len(exprs), 1)
        for row in rows:
            segment = tuple(row[:width]) if exprs else ()
            result.setdefault(segment, {})[Disposition(row[width])] = int(row[width + 1])
        return result

    # ------------------------------------------------------------ outbox

    async def enqueue(
        self,
        items: Iterable[OutboxItem],
        *,
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> list[Enqueued | StoreError]:
        """As :meth:`Store.enqueue <cxcore.Store.enqueue>`: one transaction.

        The items go in one ``INSERT ... ON CONFLICT DO NOTHING``, which says
        which of them were new. Where guards hold a store's daily limit, the
        stores' days are locked first (the advisory locks
        :meth:`add_invitations` takes for them), then their counts and the
        items queued before are read: a writer of the same store's day in
        another process waits for this transaction, then sees its count.

        .. versionadded:: 0.1.0
        """
        batch = SendBatch(items, guards)
        if not batch.items:
            return []
        store_days = batch.store_days

        async def write(c: Conn) -> tuple[set[str], dict[int, StoreLimitError]]:
            refused: dict[int, StoreLimitError] = {}
            if store_days:
                await _lock_contacts(c, _store_day_locks(store_days))
                counted = await _store_day_counts(c, store_days)
                queued = {
                    row[0]
                    for row in await _all(
                        c, "SELECT id FROM outbox WHERE id = ANY(%s)", (list(batch.candidates),)
                    )
                }
                refused = batch.refused(queued, counted)
            candidates = [n for n in batch.candidates.values() if n not in refused]
            inserted = await self._insert_sends(c, batch.rows(candidates, micros(self.clock.now())))
            if store_days:
                await _count_store_days(
                    c, batch.store_counts(n for n in candidates if batch.items[n].id in inserted)
                )
            return inserted, refused

        inserted, refused = await self._write(write)
        return batch.results(inserted, refused)

    async def _enqueue(self, c: Conn, batch: Sequence[OutboxItem]) -> None:
        if batch:
            now = micros(self.clock.now())
            await self._insert_sends(c, [send_row(i, now) for i in batch])

    async def _insert_sends(self, c: Conn, rows: Sequence[tuple[Any, ...]]) -> set[str]:
        """Insert the ``outbox`` *rows* (:data:`SEND_COLUMNS`) whose id is not queued; their ids."""
        if not rows:
            return set()
        return {
            row[0]
            for row in await _all(
                c,
                f"INSERT INTO outbox ({SEND_COLUMNS}) SELECT * FROM unnest(%s::text[], %s::text[], "
                "%s::text[], %s::text[], %s::bigint[], %s::int[], %s::bigint[]) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                _columns(rows, 7),
            )
        }

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
        worker died. Two workers never claim the same send, in any process:
        rows are picked with ``FOR UPDATE SKIP LOCKED``, so dispatchers never
        wait for each other. With *channels*, only sends on those channels
        are claimed (a dispatcher claims what it can send).
        """
        check_limit(limit)
        only = None if channels is None else list(channels)

        async def write(c: Conn) -> list[OutboxItem]:
            rows = await _all(
                c,
                _CLAIM_DUE,
                (worker, micros(now + lease), micros(now), micros(now), only, only, limit),
            )
            return sorted(map(outbox_from_row, rows), key=lambda i: (i.due_at, i.id))

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
        happened since. Without *worker* (an operator), it is recorded whatever
        the state.

        Raises:
            ClaimLostError: If *worker* no longer holds the claim.
            StoreError: If the send is not stored, or *retry_at* is missing for pending.
        """
        state = OutboxState(state)
        if state is OutboxState.PENDING and retry_at is None:
            msg = "retry_at is required to put a send back to pending"
            raise StoreError(msg)

        async def write(c: Conn) -> OutboxItem:
            current = await _fetch_outbox(c, item_id, lock=True)
            if worker is not None:
                check_claim(current, worker)
            row = await _one(
                c,
                "UPDATE outbox SET state = %s, claimed_by = NULL, claimed_until = NULL, provider_id = "
                "coalesce(%s, provider_id), last_error = %s, due_at = coalesce(%s, due_at), updated_at = %s "
                f"WHERE id = %s RETURNING {OUTBOX_COLUMNS}",
                (state.value, provider_id, error, maybe_micros(retry_at), micros(at), item_id),
            )
            assert row is not None  # noqa: S101 - the row is locked above
            await self._audit(
                c, "outbox", item_id, state.value, attempts=current.attempts, error=error
            )
            return outbox_from_row(row)

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

        Here one statement claims the items (``FOR UPDATE SKIP LOCKED``, off the
        claim-order index) with their invitations, and two more, in the same
        transaction, read the suppressions and consent entries they need.

        .. versionadded:: 0.1.0
        """
        check_limit(limit)
        only = None if channels is None else list(channels)
        purpose = Purpose(purpose)

        async def write(c: Conn) -> tuple[list[Any], list[Any], list[Any]]:
            rows = await _all(
                c,
                _CLAIM_SENDS,
                (worker, micros(now + lease), micros(now), micros(now), only, only, limit),
            )
            if not rows:
                return [], [], []
            hashes = sorted({address_hash(r[-2]) for r in rows if r[-2] is not None})
            people = sorted({p for r in rows for p in r[-3:-1] if p is not None})
            suppressions = await _all(
                c,
                "SELECT address_hash, channel, reason FROM suppressions "
                "WHERE address_hash = ANY(%s::text[])",
                (hashes,),
            )
            consents = await _all(
                c,
                "SELECT person, channel, purpose, granted, source, recorded_at, rowid FROM consent "
                "WHERE person = ANY(%s::text[]) AND purpose = %s",
                (people, purpose.value),
            )
            return rows, suppressions, consents

        return claimed_sends(*await self._write(write))

    async def finish_many(
        self, finishes: Sequence[Finish], *, worker: str | None = None
    ) -> list[OutboxItem | StoreError]:
        """As :meth:`Store.finish_many <cxcore.Store.finish_many>`, in one ``COMMIT``.

        The items' rows are locked ``FOR UPDATE`` in one order, so two batches
        never deadlock on each other.

        .. versionadded:: 0.1.0
        """
        batch = check_finishes(finishes)
        if not batch:
            return []
        columns = ", ".join(f"o.{c}" for c in OUTBOX_COLUMNS.split(", "))

        async def write(c: Conn) -> list[OutboxItem | StoreError]:
            # Rows locked in one order, so two batches never deadlock on each other.
            current = {
                row[0]: outbox_from_row(row)
                for row in await _all(
                    c,
                    f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ANY(%s::text[]) "
                    'ORDER BY id COLLATE "C" FOR UPDATE',
                    ([f.item_id for f in batch],),
                )
            }
            wanted = sorted(
                {
                    current[f.item_id].invitation_id
                    for f in batch
                    if f.disposition is not None and f.item_id in current
                }
            )
            # FOR SHARE: an erasure of the invitation waits for this, or this sees it gone.
            stored = (
                {
                    r[0]
                    for r in await _all(
                        c,
                        "SELECT id FROM invitations WHERE id = ANY(%s::text[]) "
                        'ORDER BY id COLLATE "C" FOR SHARE',
                        (wanted,),
                    )
                }
                if wanted
                else set()
            )
            verdicts = judge_finishes(batch, current, stored, worker)
            done = [f for f, v in zip(batch, verdicts, strict=True) if v is None]
            if not done:
                refused: list[OutboxItem | StoreError] = [v for v in verdicts if v is not None]
                return refused
            after = {
                row[0]: outbox_from_row(row)
                for row in await _all(
                    c,
                    "UPDATE outbox o SET state = v.state, claimed_by = NULL, claimed_until = NULL, "
                    "provider_id = coalesce(v.provider_id, o.provider_id), last_error = v.error, "
                    "due_at = coalesce(v.retry_at, o.due_at), updated_at = v.at "
                    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
                    "%s::bigint[]) AS v(id, state, provider_id, error, retry_at, at) "
                    f"WHERE o.id = v.id RETURNING {columns}",
                    (
                        [f.item_id for f in done],
                        [f.state.value for f in done],
                        [f.provider_id for f in done],
                        [f.error for f in done],
                        [maybe_micros(f.retry_at) for f in done],
                        [micros(f.at) for f in done],
                    ),
                )
            }
            marked = [f for f in done if f.disposition is not None]
            invitation_of = {f.item_id: current[f.item_id].invitation_id for f in done}
            inserted = (
                {
                    (r[0], r[1])
                    for r in await _all(
                        c,
                        "INSERT INTO dispositions (invitation_id, disposition, at, detail) "
                        "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) "
                        "ON CONFLICT (invitation_id, disposition) DO NOTHING "
                        "RETURNING invitation_id, disposition",
                        (
                            [invitation_of[f.item_id] for f in marked],
                            [f.disposition.value for f in marked if f.disposition is not None],
                            [micros(f.at) for f in marked],
                            [f.disposition_detail for f in marked],
                        ),
                    )
                }
                if marked
                else set()
            )
            audit_at = micros(self.clock.now())
            audit: list[tuple[Any, ...]] = []
            for f in done:
                detail = {"attempts": current[f.item_id].attempts, "error": f.error}
                audit.append((audit_at, "outbox", f.item_id, f.state.value, audit_detail(detail)))
                key = (invitation_of[f.item_id], f.disposition.value if f.disposition else None)
                if key in inserted:
                    inserted.discard(key)  # audited once, for its first finish
                    audit.append((audit_at, "invitation", key[0], key[1], audit_detail({})))
            async with c.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO audit (at, entity, entity_id, action, detail) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    audit,
                )
            return [
                after[f.item_id] if v is None else v for f, v in zip(batch, verdicts, strict=True)
            ]

        return await self._write(write)

    async def release_expired(
        self, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back claims whose lease ran out (their worker died), as *to*.

        The default, ``unknown``, is the safe one: the worker may have reached
        the provider before dying, so the send is reconciled, not repeated.
        A send being finished at the same moment is left to its worker.
        """
        return await self._release("claimed_until < %s", micros(now), now=now, to=to)

    async def release_claims(
        self, worker: str, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back every claim *worker* holds, as *to*, without waiting for leases to run out.

        A dispatcher that restarts under the same worker id calls this first:
        its earlier process is gone, so its claims are known to be orphaned.
        """
        return await self._release("claimed_by = %s", worker, now=now, to=to)

    async def _release(
        self,
        condition: str,
        value: str | int,
        *,
        now: datetime,
        to: OutboxState,
    ) -> list[OutboxItem]:
        target = OutboxState(to)

        async def write(c: Conn) -> list[OutboxItem]:
            rows = await _all(
                c,
                f"WITH released AS (SELECT id FROM outbox WHERE state = 'sending' AND {condition} "
                "FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox o SET state = %s, claimed_by = NULL, claimed_until = NULL, updated_at = %s "
                "FROM released WHERE o.id = released.id "
                f"RETURNING {', '.join(f'o.{c}' for c in OUTBOX_COLUMNS.split(', '))}",
                (value, target.value, micros(now)),
            )
            items = sorted(map(outbox_from_row, rows), key=lambda i: (i.due_at, i.id))
            for item in items:
                await self._audit(c, "outbox", item.id, f"released:{target.value}")
            return items

        return await self._write(write)

    async def outbox(self, state: OutboxState | None = None) -> list[OutboxItem]:
        """The outbox, by due time (only one state's sends, if given)."""
        sql = f"SELECT {OUTBOX_COLUMNS} FROM outbox"
        order = ' ORDER BY due_at, id COLLATE "C"'
        params: tuple[str, ...] = () if state is None else (OutboxState(state).value,)
        query = sql + ("" if state is None else " WHERE state = %s") + order
        rows = await self._read(lambda c: _all(c, query, params))
        return [outbox_from_row(r) for r in rows]


async def _fetch_outbox(c: Conn, item_id: str, *, lock: bool = False) -> OutboxItem:
    row = await _one(
        c,
        f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = %s" + (" FOR UPDATE" if lock else ""),
        (item_id,),
    )
    if row is None:
        msg = f"no outbox item {item_id!r} is stored"
        raise StoreError(msg)
    return outbox_from_row(row)


def _entry_at_fault(exc: psycopg.Error, conn: Conn) -> bool:
    """Whether *exc* refused a value of one entry (the others may go on), not the transaction."""
    return not conn.broken and not isinstance(
        exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
    )


def _short_code_taken(exc: psycopg.Error) -> bool:
    """Whether *exc* is another invitation holding the short code of the one inserted."""
    return (
        isinstance(exc, psycopg.errors.UniqueViolation)
        and exc.diag.constraint_name == "invitations_by_short_code"
    )


async def _lock_contacts(c: Conn, keys: Sequence[str]) -> None:
    """Take the transaction's advisory lock on each of *keys* (people, accounts, stores' and strata's days), in one order.

    Every guarded write locks what it checks through here, in the order of
    the keys' hashes, so two writes wanting some of the same keys never
    deadlock: the later one waits for the earlier one's transaction.
    """
    await c.execute(
        "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(p) AS k "
        "FROM unnest(%s::text[]) AS p ORDER BY k) AS keys",
        (_LOCK_CONTACT, list(keys)),
    )


def _store_day_locks(store_days: Iterable[tuple[str, int]]) -> list[str]:
    """The advisory lock keys of *store_days* (under :data:`_LOCK_CONTACT`)."""
    return [f"store:{day}:{store}" for store, day in store_days]


async def _store_day_counts(
    c: Conn, store_days: Sequence[tuple[str, int]]
) -> list[tuple[str, int, int]]:
    """The stored counts of *store_days*: (store, day, invited) rows (none read when there are none)."""
    if not store_days:
        return []
    return await _all(
        c,
        "SELECT store, day, invited FROM store_day_counts "
        "WHERE (store, day) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        _columns(store_days, 2),
    )


async def _count_store_days(c: Conn, added: Sequence[tuple[str, int, int]]) -> None:
    """Add what a guarded write made to each store's count of the day: (store, day, added) rows."""
    await c.execute(
        "INSERT INTO store_day_counts (store, day, invited) "
        "SELECT * FROM unnest(%s::text[], %s::int[], %s::int[]) "
        "ON CONFLICT (store, day) DO UPDATE "
        "SET invited = store_day_counts.invited + excluded.invited",
        _columns(added, 3),
    )


async def _count_days(c: Conn, batch: InvitationBatch, written: Sequence[int]) -> None:
    """Add the candidates *written* to their stores' and strata's counts of the day."""
    if batch.store_days:
        await _count_store_days(c, batch.store_counts(written))
    if batch.stratum_days:
        await _count_stratum_days(c, batch.stratum_counts(written))


def _stratum_day_locks(stratum_days: Iterable[tuple[str, str, int]]) -> list[str]:
    """The advisory lock keys of *stratum_days* (under :data:`_LOCK_CONTACT`).

    The rule's length comes first, so that no two (rule, stratum) pairs
    share a key (a rule id may hold ':').
    """
    return [f"stratum:{day}:{len(rule)}:{rule}:{stratum}" for rule, stratum, day in stratum_days]


async def _stratum_day_counts(
    c: Conn, stratum_days: Sequence[tuple[str, str, int]]
) -> list[tuple[str, str, int, int]]:
    """The stored counts of *stratum_days*: (rule, stratum, day, invited) rows (none read when there are none)."""
    if not stratum_days:
        return []
    return await _all(
        c,
        "SELECT rule, stratum, day, invited FROM stratum_day_counts WHERE (rule, stratum, day) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[], %s::int[]))",
        _columns(stratum_days, 3),
    )


async def _count_stratum_days(c: Conn, added: Sequence[tuple[str, str, int, int]]) -> None:
    """Add what a guarded write made to each stratum's count of the day: (rule, stratum, day, added) rows."""
    await c.execute(
        "INSERT INTO stratum_day_counts (rule, stratum, day, invited) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::int[], %s::int[]) "
        "ON CONFLICT (rule, stratum, day) DO UPDATE "
        "SET invited = stratum_day_counts.invited + excluded.invited",
        _columns(added, 4),
    )


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """*rows* as *width* columns, for ``unnest`` (empty columns when there are no rows)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width
