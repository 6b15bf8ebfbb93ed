"""People in the PostgreSQL store: consent, suppressions, opt-outs, erasure, and the retention of personal data."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from cxcore.definitions import structure
from cxcore.distribution.fatigue import SuppressionReason
from cxcore.model.customer import Consent, Purpose
from cxcore.model.response import Response
from cxcore.model.survey import Survey
from cxcore.ports.store import OptOut, StoreError
from cxcore.stores._feed_rows import opt_out_row
from cxcore.stores._rows import (
    RESPONSE_COLUMNS,
    RESPONSE_SELECT,
    address_hash,
    anonymised,
    from_micros,
    micros,
    response_from_row,
    response_row,
    retention_cutoffs,
)
from cxcore.stores.postgres._base import _LOCK_LEDGER, _Base
from cxcore.stores.postgres._connection import Conn, _all, _one
from cxcore.stores.postgres._scores import _replace_scores


class _People(_Base):
    """Consent and suppression, erasure of a person, and retention."""

    # ------------------------------------------------------------ consent and suppression

    async def record_consent(self, person: str, consent: Consent) -> None:
        """Add an entry to the consent ledger of *person* (a customer id, or an address).

        Entries are never overwritten: the latest per channel and purpose wins.
        """

        async def write(c: Conn) -> None:
            await self._add_consent(c, person, consent)

        await self._write(write)

    async def _add_consent(self, c: Conn, person: str, consent: Consent) -> None:
        row = await _one(
            c,
            "INSERT INTO consent (person, channel, purpose, granted, source, recorded_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING rowid",
            (
                person,
                consent.channel,
                consent.purpose.value,
                int(consent.granted),
                consent.source,
                micros(consent.recorded_at),
            ),
        )
        assert row is not None  # noqa: S101 - INSERT ... RETURNING returns the row
        await self._audit(
            c,
            "consent",
            str(row[0]),
            "granted" if consent.granted else "withdrawn",
            channel=consent.channel,
            purpose=consent.purpose.value,
            source=consent.source,
        )

    async def consent(self, person: str, channel: str, purpose: Purpose) -> Consent | None:
        """The latest consent entry of *person* for *channel* (or ``"*"``) and *purpose*."""
        row = await self._read(
            lambda c: _one(
                c,
                "SELECT channel, purpose, granted, source, recorded_at FROM consent "
                "WHERE person = %s AND channel IN (%s, '*') AND purpose = %s "
                "ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
                (person, channel, Purpose(purpose).value),
            )
        )
        if row is None:
            return None
        ch, pu, granted, source, at = row
        return Consent(ch, pu, granted=bool(granted), source=source, recorded_at=from_micros(at))

    async def suppress(self, address: str, channel: str, reason: str) -> None:
        """Never send to *address* on *channel* again (``"*"`` for every channel).

        Only a digest of the address is kept.
        """
        digest = address_hash(address)

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                "INSERT INTO suppressions (address_hash, channel, reason, since) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (address_hash, channel) DO NOTHING RETURNING 1",
                (digest, channel, reason, micros(self.clock.now())),
            )
            if inserted is not None:
                await self._audit(
                    c, "suppression", digest[:16], "added", channel=channel, reason=reason
                )

        await self._write(write)

    async def unsuppress(self, address: str, channel: str) -> None:
        """Lift a suppression (after a customer opts back in)."""
        digest = address_hash(address)

        async def write(c: Conn) -> None:
            cur = await c.execute(
                "DELETE FROM suppressions WHERE address_hash = %s AND channel = %s",
                (digest, channel),
            )
            if cur.rowcount:
                await self._audit(c, "suppression", digest[:16], "lifted", channel=channel)

        await self._write(write)

    async def record_opt_out(self, opt_out: OptOut) -> bool:
        """Opt an address out of a channel (or back in), with the feed, in one transaction.

        Opting out suppresses the address (``opt_out``, unless it is suppressed
        already) and withdraws consent in the ledgers of the address and the
        customer; opting in lifts an ``opt_out`` suppression (never a bounce's)
        and grants consent. Entries are written only where the ledger says
        otherwise, so a repeat writes nothing, even one arriving at the same
        time from another process: the ledgers of the address and the customer
        are locked (advisory locks, in a fixed order) for the decision.

        Returns:
            Whether anything changed.
        """
        consent = opt_out.consent()
        reason = SuppressionReason.OPT_OUT.value
        digest = address_hash(opt_out.address)
        people = [p for p in (opt_out.address, opt_out.customer_id) if p is not None]

        async def write(c: Conn) -> bool:
            for person in sorted(set(people)):
                await c.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_LEDGER, person)
                )
            since = micros(self.clock.now())
            if opt_out.opted_out:
                cur = await c.execute(
                    "INSERT INTO suppressions (address_hash, channel, reason, since) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (address_hash, channel) DO NOTHING",
                    (digest, opt_out.channel, reason, since),
                )
                action = "added"
            else:
                cur = await c.execute(
                    "DELETE FROM suppressions WHERE address_hash = %s AND channel = %s "
                    "AND reason = %s",
                    (digest, opt_out.channel, reason),
                )
                action = "lifted"
            changed = cur.rowcount > 0
            if changed:
                await self._audit(
                    c,
                    "suppression",
                    digest[:16],
                    action,
                    channel=opt_out.channel,
                    source=opt_out.source,
                )
            for person in people:
                latest = await _one(
                    c,
                    "SELECT granted FROM consent WHERE person = %s AND channel = %s "
                    "AND purpose = %s ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
                    (person, consent.channel, consent.purpose.value),
                )
                if latest is not None and bool(latest[0]) is consent.granted:
                    continue
                await self._add_consent(c, person, consent)
                changed = True
            if changed:  # last: see _append_feed
                await self._append_feed(c, [opt_out_row(opt_out, self.clock.now())])
            return changed

        return await self._write(write)

    async def suppression(self, address: str, channel: str) -> str | None:
        """Why *address* is suppressed on *channel* (or on every channel), or ``None``."""
        row = await self._read(
            lambda c: _one(
                c,
                "SELECT reason FROM suppressions WHERE address_hash = %s AND channel IN (%s, '*') "
                "ORDER BY channel = '*' LIMIT 1",
                (address_hash(address), channel),
            )
        )
        return None if row is None else str(row[0])

    # ------------------------------------------------------------ privacy

    async def erase_person(
        self, *, customer_id: str | None = None, addresses: Sequence[str] = ()
    ) -> dict[str, int]:
        """Erase everything about a person: responses, invitations, consent, cases, outbox.

        Suppressions stay, as digests, so an erased person is still never
        contacted against their wish. The audit log records the erasure and
        its counts, never the identifiers.

        PostgreSQL keeps deleted rows on disk until ``VACUUM`` reclaims them
        (autovacuum does, in time); run ``VACUUM`` on the store's tables after
        an erasure if the old row versions must go at once.

        Returns:
            How many rows were erased, per table.

        Raises:
            StoreError: If neither a customer id nor an address is given.
        """
        if customer_id is None and not addresses:
            msg = "erase_person needs a customer_id or at least one address"
            raise StoreError(msg)
        people = [p for p in (customer_id, *addresses) if p]

        async def write(c: Conn) -> dict[str, int]:
            # Lock the invitations first: a disposition recorded meanwhile waits, then finds none.
            invitation_ids = [
                r[0]
                for r in await _all(
                    c,
                    "SELECT id FROM invitations WHERE customer_id = ANY(%s::text[]) "
                    "OR address = ANY(%s::text[]) FOR UPDATE",
                    (people, people),
                )
            ]
            erased = [
                response_from_row(r)
                for r in await _all(
                    c,
                    RESPONSE_SELECT + " WHERE customer_id = ANY(%s::text[]) "
                    "OR invitation_id = ANY(%s::text[]) FOR UPDATE",
                    (people, invitation_ids),
                )
            ]
            response_ids = [r.id for r in erased]

            async def delete(sql: str, *params: list[str]) -> int:
                return (await c.execute(sql, params)).rowcount

            counts = {
                "cases": await delete(
                    "DELETE FROM cases WHERE customer_id = ANY(%s::text[]) OR response_id = ANY(%s::text[])",
                    people,
                    response_ids,
                ),
                "submissions": await delete(
                    "DELETE FROM submissions WHERE response_id = ANY(%s::text[])", response_ids
                ),
                "responses": await delete(
                    "DELETE FROM responses WHERE id = ANY(%s::text[])", response_ids
                ),
                "answer_scores": await _replace_scores(c, erased, []),
                "outbox": await delete(
                    "DELETE FROM outbox WHERE invitation_id = ANY(%s::text[])", invitation_ids
                ),
                "dispositions": await delete(
                    "DELETE FROM dispositions WHERE invitation_id = ANY(%s::text[])",
                    invitation_ids,
                ),
                "invitations": await delete(
                    "DELETE FROM invitations WHERE id = ANY(%s::text[])", invitation_ids
                ),
                "consent": await delete(
                    "DELETE FROM consent WHERE person = ANY(%s::text[])", people
                ),
            }
            erased_ids = [*response_ids, *invitation_ids]
            if erased_ids:
                counts["audit"] = await delete(
                    "DELETE FROM audit WHERE entity_id = ANY(%s::text[])", erased_ids
                )
            await self._audit(
                c, "person", uuid.uuid4().hex, "erased", **{k: v for k, v in counts.items() if v}
            )
            return counts

        return await self._write(write)

    async def apply_retention(self) -> int:
        """Purge personal data from responses older than their survey's ``retention_days``.

        The answers stay for the aggregates, made anonymous: the customer,
        interaction and invitation links go, open-text answers go, and the
        context keeps only the dimensions (touchpoint, journey, store, agent,
        product, channel).

        Returns:
            How many responses were purged.
        """
        bodies = await self._read(lambda c: _all(c, "SELECT body FROM surveys"))
        now = self.clock.now()
        policies = retention_cutoffs((structure(json.loads(b), Survey) for (b,) in bodies), now)

        async def write(c: Conn) -> int:
            purged = 0
            for survey, cutoff in policies:
                rows = await _all(
                    c,
                    RESPONSE_SELECT
                    + " WHERE survey_id = %s AND survey_version = %s AND updated_at < %s "
                    "AND anonymised_at IS NULL FOR UPDATE",
                    (survey.id, survey.version, cutoff),
                )
                updates: list[tuple[Any, ...]] = []
                purged_rows: list[Response] = []
                originals: list[Response] = []
                for row in rows:
                    r = response_from_row(row)
                    anonymous = anonymised(r, survey)
                    values = response_row(anonymous)
                    updates.append((*values[1:], micros(now), values[0]))
                    purged_rows.append(anonymous)
                    originals.append(r)
                if updates:
                    async with c.cursor() as cur:
                        await cur.executemany(
                            "UPDATE responses SET "
                            + ", ".join(f"{col} = %s" for col in RESPONSE_COLUMNS[1:])
                            + ", anonymised_at = %s WHERE id = %s",
                            updates,
                        )
                    await _replace_scores(c, originals, purged_rows, survey)
                purged += len(updates)
            if purged:
                await self._audit(
                    c, "retention", now.date().isoformat(), "purged", responses=purged
                )
            return purged

        return await self._write(write)
