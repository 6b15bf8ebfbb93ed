"""What the way back in reads and writes in the SQLite store.

Invitations found by address or by the provider's id, recent invitations, and
delivery statuses that never go backwards.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from cxcore.definitions import structure
from cxcore.distribution.fatigue import SuppressionReason
from cxcore.model.invitation import Disposition, Invitation
from cxcore.ports.store import Invited, StatusResult, StatusUpdate, StoreError
from cxcore.stores._feed_rows import progress, status_row
from cxcore.stores._rows import address_hash, from_micros, micros
from cxcore.stores.sqlite._base import _Base

_OPEN_CANDIDATES = 20
"""How many of an address's newest invitations on a channel a reply is matched against."""


def _invitation(body: str, source: str) -> Invitation:
    return structure(json.loads(body), Invitation, source=source)


class _Inbound(_Base):
    """The lookups and writes of answers, opt-outs and statuses coming back."""

    async def open_invitation(
        self, address: str, channel: str, *, now: datetime
    ) -> Invitation | None:
        """The newest invitation sent to *address* on *channel* that is open at *now*.

        Open means: not expired, and no complete response to it.
        """
        rows = await self._read(
            lambda c: c.execute(
                "SELECT i.id, i.body FROM invitations i WHERE i.address = ? AND i.channel = ? "
                "AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.invitation_id = i.id "
                "AND r.status = 'complete') "
                "ORDER BY i.created_at DESC, i.id DESC LIMIT ?",
                (address, channel, _OPEN_CANDIDATES),
            ).fetchall()
        )
        for invitation_id, body in rows:
            invitation = _invitation(body, f"stored invitation {invitation_id}")
            if invitation.expires_at is None or invitation.expires_at > now:
                return invitation
        return None

    async def invitation_by_provider_id(self, provider_id: str) -> Invitation | None:
        """The invitation whose send the provider knows by *provider_id*, if any."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT i.id, i.body FROM outbox o JOIN invitations i ON i.id = o.invitation_id "
                "WHERE o.provider_id = ? LIMIT 1",
                (provider_id,),
            ).fetchone()
        )
        return None if row is None else _invitation(row[1], f"stored invitation {row[0]}")

    async def recent_invitations(self, *, since: datetime) -> list[Invitation]:
        """Every invitation created at *since* or later, oldest first."""
        rows = await self._read(
            lambda c: c.execute(
                "SELECT id, body FROM invitations WHERE created_at >= ? ORDER BY created_at, id",
                (micros(since),),
            ).fetchall()
        )
        return [_invitation(body, f"stored invitation {i}") for i, body in rows]

    async def invited_since(self, *, since: datetime) -> list[Invited]:
        """Who was invited to what, when, since *since*: four columns, no invitation decoded.

        .. versionadded:: 0.1.0
        """
        rows = await self._read(
            lambda c: c.execute(
                "SELECT customer_id, survey_id, created_at, account_id FROM invitations "
                "WHERE created_at >= ? AND customer_id IS NOT NULL ORDER BY created_at, id",
                (micros(since),),
            ).fetchall()
        )
        # tuple.__new__ makes each row what Invited(...) makes, without its __new__'s call.
        make = tuple.__new__
        return [
            make(Invited, (person, survey, from_micros(at), account))
            for person, survey, at, account in rows
        ]

    async def count_invited(self, *, since: datetime, until: datetime) -> int:
        """How many invitations with a customer were made in [*since*, *until*).

        .. versionadded:: 0.1.0
        """
        row = await self._read(
            lambda c: c.execute(
                "SELECT count(*) FROM invitations WHERE created_at >= ? AND created_at < ? "
                "AND customer_id IS NOT NULL",
                (micros(since), micros(until)),
            ).fetchone()
        )
        return int(row[0])

    async def record_status(self, update: StatusUpdate) -> StatusResult:
        """Record a delivery status, never going backwards, in one transaction with the feed.

        Raises:
            StoreError: If the invitation is not stored.
        """
        at = self.clock.now()

        def write(c: sqlite3.Connection) -> StatusResult:
            row = c.execute(
                "SELECT channel, address, survey_id FROM invitations WHERE id = ?",
                (update.invitation_id,),
            ).fetchone()
            if row is None:
                msg = f"no invitation {update.invitation_id!r} is stored"
                raise StoreError(msg)
            channel, address, survey_id = row
            reached = [
                Disposition(d)
                for (d,) in c.execute(
                    "SELECT disposition FROM dispositions WHERE invitation_id = ?",
                    (update.invitation_id,),
                )
            ]
            current = progress(reached)
            applied = current is None or (update.disposition.rank or 0) > (current.rank or 0)
            if applied:
                c.execute(
                    "INSERT INTO dispositions (invitation_id, disposition, at, detail) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (invitation_id, disposition) DO NOTHING",
                    (
                        update.invitation_id,
                        update.disposition.value,
                        micros(update.at),
                        update.detail,
                    ),
                )
                self._audit(c, "invitation", update.invitation_id, update.disposition.value)
                self._append_feed(
                    c,
                    [status_row(update.invitation_id, survey_id, channel, update.disposition, at)],
                )
                current = update.disposition
            suppressed = False
            if update.suppress and address is not None:
                reason = (
                    SuppressionReason.COMPLAINT
                    if update.disposition is Disposition.COMPLAINED
                    else SuppressionReason.HARD_BOUNCE
                )
                digest = address_hash(address)
                suppressed = bool(
                    c.execute(
                        "INSERT INTO suppressions (address_hash, channel, reason, since) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (address_hash, channel) DO NOTHING",
                        (digest, channel, reason.value, micros(at)),
                    ).rowcount
                )
                if suppressed:
                    self._audit(
                        c, "suppression", digest[:16], "added", channel=channel, reason=reason.value
                    )
            return StatusResult(applied=applied, current=current, suppressed=suppressed)

        return await self._write(write)
