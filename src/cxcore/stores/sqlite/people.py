"""People in the SQLite store: consent, suppressions, erasure, and the retention of personal data."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence

from cxcore.definitions import structure
from cxcore.distribution.fatigue import SuppressionReason
from cxcore.model.customer import Consent, Purpose
from cxcore.model.survey import Survey
from cxcore.ports.store import OptOut, StoreError
from cxcore.stores._feed_rows import opt_out_row
from cxcore.stores._rows import (
    RESPONSE_SELECT,
    address_hash,
    anonymised,
    from_micros,
    micros,
    response_from_row,
    response_row,
    retention_cutoffs,
)
from cxcore.stores.sqlite._base import _Base
from cxcore.stores.sqlite._scores import _replace_scores, _scored_in
from cxcore.stores.sqlite.responses import _UPDATE_RESPONSE


class _People(_Base):
    """Consent and suppression, erasure of a person, and retention."""

    # ------------------------------------------------------------ consent and suppression

    async def record_consent(self, person: str, consent: Consent) -> None:
        """Add an entry to the consent ledger of *person* (a customer id, or an address).

        Entries are never overwritten: the latest per channel and purpose wins.
        """
        await self._write(lambda c: self._add_consent(c, person, consent))

    def _add_consent(self, c: sqlite3.Connection, person: str, consent: Consent) -> None:
        c.execute(
            "INSERT INTO consent (person, channel, purpose, granted, source, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                person,
                consent.channel,
                consent.purpose.value,
                int(consent.granted),
                consent.source,
                micros(consent.recorded_at),
            ),
        )
        seq = c.execute("SELECT last_insert_rowid()").fetchone()[0]
        self._audit(
            c,
            "consent",
            str(seq),
            "granted" if consent.granted else "withdrawn",
            channel=consent.channel,
            purpose=consent.purpose.value,
            source=consent.source,
        )

    async def consent(self, person: str, channel: str, purpose: Purpose) -> Consent | None:
        """The latest consent entry of *person* for *channel* (or ``"*"``) and *purpose*."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT channel, purpose, granted, source, recorded_at FROM consent "
                "WHERE person = ? AND channel IN (?, '*') AND purpose = ? "
                "ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
                (person, channel, Purpose(purpose).value),
            ).fetchone()
        )
        if row is None:
            return None
        ch, pu, granted, source, at = row
        return Consent(ch, pu, granted=bool(granted), source=source, recorded_at=from_micros(at))

    async def suppress(self, address: str, channel: str, reason: str) -> None:
        """Never send to *address* on *channel* again (``"*"`` for every channel).

        Only a digest of the address is kept.
        """

        def write(c: sqlite3.Connection) -> None:
            digest = address_hash(address)
            inserted = c.execute(
                "INSERT INTO suppressions (address_hash, channel, reason, since) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (address_hash, channel) DO NOTHING",
                (digest, channel, reason, micros(self.clock.now())),
            ).rowcount
            if inserted:
                self._audit(c, "suppression", digest[:16], "added", channel=channel, reason=reason)

        await self._write(write)

    async def unsuppress(self, address: str, channel: str) -> None:
        """Lift a suppression (after a customer opts back in)."""

        def write(c: sqlite3.Connection) -> None:
            digest = address_hash(address)
            if c.execute(
                "DELETE FROM suppressions WHERE address_hash = ? AND channel = ?", (digest, channel)
            ).rowcount:
                self._audit(c, "suppression", digest[:16], "lifted", channel=channel)

        await self._write(write)

    async def record_opt_out(self, opt_out: OptOut) -> bool:
        """Opt an address out of a channel (or back in), with the feed, in one transaction.

        Opting out suppresses the address (``opt_out``, unless it is suppressed
        already) and withdraws consent in the ledgers of the address and the
        customer; opting in lifts an ``opt_out`` suppression (never a bounce's)
        and grants consent. Entries are written only where the ledger says
        otherwise, so a repeat writes nothing.

        Returns:
            Whether anything changed.
        """
        consent = opt_out.consent()
        reason = SuppressionReason.OPT_OUT.value

        def write(c: sqlite3.Connection) -> bool:
            digest = address_hash(opt_out.address)
            since = micros(self.clock.now())
            if opt_out.opted_out:
                changed = bool(
                    c.execute(
                        "INSERT INTO suppressions (address_hash, channel, reason, since) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (address_hash, channel) DO NOTHING",
                        (digest, opt_out.channel, reason, since),
                    ).rowcount
                )
                action = "added"
            else:
                changed = bool(
                    c.execute(
                        "DELETE FROM suppressions WHERE address_hash = ? AND channel = ? AND reason = ?",
                        (digest, opt_out.channel, reason),
                    ).rowcount
                )
                action = "lifted"
            if changed:
                self._audit(
                    c,
                    "suppression",
                    digest[:16],
                    action,
                    channel=opt_out.channel,
                    source=opt_out.source,
                )
            for person in (opt_out.address, opt_out.customer_id):
                if person is None:
                    continue
                latest = c.execute(
                    "SELECT granted FROM consent WHERE person = ? AND channel = ? AND purpose = ? "
                    "ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
                    (person, consent.channel, consent.purpose.value),
                ).fetchone()
                if latest is not None and bool(latest[0]) is consent.granted:
                    continue
                self._add_consent(c, person, consent)
                changed = True
            if changed:
                self._append_feed(c, [opt_out_row(opt_out, self.clock.now())])
            return changed

        return await self._write(write)

    async def suppression(self, address: str, channel: str) -> str | None:
        """Why *address* is suppressed on *channel* (or on every channel), or ``None``."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT reason FROM suppressions WHERE address_hash = ? AND channel IN (?, '*') "
                "ORDER BY channel = '*' LIMIT 1",
                (address_hash(address), channel),
            ).fetchone()
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

        Returns:
            How many rows were erased, per table.
        """
        if customer_id is None and not addresses:
            msg = "erase_person needs a customer_id or at least one address"
            raise StoreError(msg)
        people = [p for p in (customer_id, *addresses) if p]

        def write(c: sqlite3.Connection) -> dict[str, int]:
            marks = ", ".join("?" * len(people))
            invitation_ids = [
                r[0]
                for r in c.execute(
                    f"SELECT id FROM invitations WHERE customer_id IN ({marks}) OR address IN ({marks})",
                    (*people, *people),
                )
            ]
            inv_marks = ", ".join("?" * len(invitation_ids)) or "NULL"
            erased = [
                response_from_row(r)
                for r in c.execute(
                    RESPONSE_SELECT
                    + f" WHERE customer_id IN ({marks}) OR invitation_id IN ({inv_marks})",
                    (*people, *invitation_ids),
                )
            ]
            response_ids = [r.id for r in erased]
            resp_marks = ", ".join("?" * len(response_ids)) or "NULL"
            counts = {
                "cases": c.execute(
                    f"DELETE FROM cases WHERE customer_id IN ({marks}) OR response_id IN ({resp_marks})",
                    (*people, *response_ids),
                ).rowcount,
                "submissions": c.execute(
                    f"DELETE FROM submissions WHERE response_id IN ({resp_marks})",
                    response_ids,
                ).rowcount,
                "responses": c.execute(
                    f"DELETE FROM responses WHERE id IN ({resp_marks})",
                    response_ids,
                ).rowcount,
                "answer_scores": _replace_scores(c, erased, [], _scored_in(c)),
                "outbox": c.execute(
                    f"DELETE FROM outbox WHERE invitation_id IN ({inv_marks})",
                    invitation_ids,
                ).rowcount,
                "dispositions": c.execute(
                    f"DELETE FROM dispositions WHERE invitation_id IN ({inv_marks})",
                    invitation_ids,
                ).rowcount,
                "invitations": c.execute(
                    f"DELETE FROM invitations WHERE id IN ({inv_marks})",
                    invitation_ids,
                ).rowcount,
                "consent": c.execute(
                    f"DELETE FROM consent WHERE person IN ({marks})",
                    people,
                ).rowcount,
            }
            erased_ids = [*response_ids, *invitation_ids]
            if erased_ids:
                id_marks = ", ".join("?" * len(erased_ids))
                counts["audit"] = c.execute(
                    f"DELETE FROM audit WHERE entity_id IN ({id_marks})",
                    erased_ids,
                ).rowcount
            self._audit(
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
        bodies = await self._read(lambda c: c.execute("SELECT body FROM surveys").fetchall())
        now = self.clock.now()
        policies = retention_cutoffs((structure(json.loads(b), Survey) for (b,) in bodies), now)

        def write(c: sqlite3.Connection) -> int:
            purged = 0
            for survey, cutoff in policies:
                rows = c.execute(
                    RESPONSE_SELECT
                    + " WHERE survey_id = ? AND survey_version = ? AND updated_at < ? "
                    "AND anonymised_at IS NULL",
                    (survey.id, survey.version, cutoff),
                ).fetchall()
                for row in rows:
                    r = response_from_row(row)
                    anonymous = anonymised(r, survey)
                    values = response_row(anonymous)
                    c.execute(_UPDATE_RESPONSE, (*values[1:], values[0]))
                    _replace_scores(c, [r], [anonymous], _scored_in(c, survey))
                    c.execute(
                        "UPDATE responses SET anonymised_at = ? WHERE id = ?", (micros(now), r.id)
                    )
                    purged += 1
            if purged:
                self._audit(c, "retention", now.date().isoformat(), "purged", responses=purged)
            return purged

        return await self._write(write)
