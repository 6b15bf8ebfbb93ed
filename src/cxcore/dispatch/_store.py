"""The store operations the dispatcher needs, beyond the :class:`~cxcore.Store` protocol.

:class:`~cxcore.stores.SQLiteStore` provides all of them; so must any store a
dispatcher runs against.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from cxcore.model.customer import Consent, Purpose
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.survey import Survey
from cxcore.ports.store import OutboxItem, OutboxState

__all__ = ["OutboxStore"]


class OutboxStore(Protocol):
    """What the dispatcher reads and writes: invitations, the outbox, consent and suppressions.

    .. versionadded:: 0.1.0
    """

    async def survey(self, survey_id: str, version: int | None = None) -> Survey:
        """Return a survey version, by default the latest."""
        ...

    async def add_invitation(
        self, invitation: Invitation, *, outbox: Iterable[OutboxItem] = ()
    ) -> None:
        """Store an invitation and its sends in one transaction (idempotent by id)."""
        ...

    async def invitation(self, invitation_id: str) -> Invitation:
        """Return one invitation."""
        ...

    async def record_disposition(
        self, invitation_id: str, disposition: Disposition, at: datetime, detail: str | None = None
    ) -> None:
        """Record what became of an invitation."""
        ...

    async def consent(self, person: str, channel: str, purpose: Purpose) -> Consent | None:
        """The latest consent entry of *person* for *channel* and *purpose*."""
        ...

    async def suppress(self, address: str, channel: str, reason: str) -> None:
        """Never send to *address* on *channel* again."""
        ...

    async def suppression(self, address: str, channel: str) -> str | None:
        """Why *address* is suppressed on *channel*, or ``None``."""
        ...

    async def enqueue(self, items: Iterable[OutboxItem]) -> None:
        """Add pending sends (idempotent by id)."""
        ...

    async def claim(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[str] | None = None,
    ) -> list[OutboxItem]:
        """Claim due pending sends for *worker*."""
        ...

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
        """Record the end of an attempt (only while *worker* holds the claim, if given)."""
        ...

    async def release_expired(
        self, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back claims whose lease ran out."""
        ...

    async def release_claims(
        self, worker: str, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back every claim *worker* holds."""
        ...

    async def outbox(self, state: OutboxState | None = None) -> list[OutboxItem]:
        """The outbox, by due time."""
        ...
