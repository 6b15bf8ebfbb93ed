"""How outbox items come back from their rows, and what a claim of sends read, for every SQL backend."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from cxcore.definitions import structure
from cxcore.errors import CxError
from cxcore.model.customer import Consent
from cxcore.model.invitation import Invitation
from cxcore.ports.store import ClaimedSend, OutboxItem, OutboxState
from cxcore.stores._rows import address_hash, from_micros, maybe_datetime

OUTBOX_COLUMNS = "id, invitation_id, channel, state, due_at, attempts, claimed_by, claimed_until, provider_id, last_error"
"""The columns of ``outbox`` that :func:`outbox_from_row` reads, in its order."""


def outbox_from_row(row: Sequence[Any]) -> OutboxItem:
    """The outbox item stored in *row* (:data:`OUTBOX_COLUMNS`)."""
    id_, inv, channel, state, due, attempts, by, until, provider, error = row
    return OutboxItem(
        id=id_,
        invitation_id=inv,
        channel=channel,
        state=OutboxState(state),
        due_at=from_micros(due),
        attempts=attempts,
        claimed_by=by,
        claimed_until=maybe_datetime(until),
        provider_id=provider,
        last_error=error,
    )


ClaimedRows = tuple[list[Any], list[Any], list[Any]]
"""What a claim of sends reads: (outbox columns, customer_id, address, body) rows,
(address_hash, channel, reason) rows, (person, channel, purpose, granted, source,
recorded_at, rowid) rows."""


def claimed_sends(
    rows: Sequence[Sequence[Any]],
    suppressions: Iterable[Sequence[Any]],
    consents: Iterable[Sequence[Any]],
) -> list[ClaimedSend]:
    """Judge what a claim of sends read, for each send, as the one-at-a-time reads judge it.

    The suppression of the address on the item's channel wins over one on
    every channel (``"*"``), as :meth:`SQLiteStore.suppression` orders them;
    the latest consent entry for the item's channel or ``"*"`` wins, by
    ``recorded_at`` and then insertion order, as :meth:`SQLiteStore.consent`.
    Shared by both backends.
    """
    reasons = {(digest, channel): str(reason) for digest, channel, reason in suppressions}
    latest: dict[tuple[str, str], tuple[int, int, Consent]] = {}
    for person, channel, purpose, granted, source, at, seq in consents:
        key = (person, channel)
        if key not in latest or (at, seq) > latest[key][:2]:
            consent = Consent(
                channel, purpose, granted=bool(granted), source=source, recorded_at=from_micros(at)
            )
            latest[key] = (at, seq, consent)

    def consent_of(person: str | None, channel: str) -> Consent | None:
        if person is None:
            return None
        found = [latest[k] for k in ((person, channel), (person, "*")) if k in latest]
        return max(found, key=lambda e: e[:2])[2] if found else None

    sends: list[ClaimedSend] = []
    for row in rows:
        item = outbox_from_row(row[:-3])
        customer_id, address, body = row[-3:]
        invitation: Invitation | None = None
        problem: str | None = None
        if body is None:
            problem = f"no invitation {item.invitation_id!r} is stored"
        else:
            try:
                invitation = structure(
                    json.loads(body), Invitation, source=f"stored invitation {item.invitation_id}"
                )
            except (CxError, ValueError) as exc:
                problem = str(exc)
        suppression = None
        if address is not None:
            digest = address_hash(address)
            suppression = reasons.get((digest, item.channel), reasons.get((digest, "*")))
        sends.append(
            ClaimedSend(
                item=item,
                invitation=invitation,
                problem=problem,
                suppression=suppression,
                customer_consent=consent_of(customer_id, item.channel),
                address_consent=consent_of(address, item.channel),
            )
        )
    return sends
