"""How outbox items come back from their rows, and what a claim of sends read, for every SQL backend."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cxcore.definitions import structure, unstructure
from cxcore.errors import CxError
from cxcore.model.customer import Consent
from cxcore.model.invitation import Invitation
from cxcore.ports.store import (
    AddedInvitation,
    AlreadyInvitedError,
    ClaimedSend,
    OutboxItem,
    OutboxState,
    StoreError,
)
from cxcore.stores._rows import (
    address_hash,
    audit_detail,
    from_micros,
    maybe_datetime,
    micros,
    to_json,
)

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


INVITATION_COLUMNS = (
    "id, survey_id, survey_version, channel, customer_id, address, created_at, body"
)
"""The columns of ``invitations``, in the order of :meth:`InvitationBatch.row`."""


class InvitationBatch:
    """One :meth:`Store.add_invitations <cxcore.Store.add_invitations>` call, checked and planned for every backend.

    Each entry's outbox items must be its invitation's, or the entry is refused
    (its error is its result, and it writes nothing). The first entry with an
    id that is not refused is the *candidate* the backend writes; a later entry
    with the same id is a repeat of it and gets its result, as a repeat.

    A backend writes, in one transaction: the candidates whose id is not stored
    yet (:meth:`row`, :meth:`audit_rows`, their items), each alone when writing
    them together fails; then hands :meth:`results` what it found stored and
    which candidates failed. Where the call gives *unless_invited_after*, the
    backend first reads the latest invitation of each :attr:`guarded` customer
    (under a lock other writers of them take too), and :meth:`refused` says
    which new candidates not to write.
    """

    __slots__ = ("after", "bodies", "candidates", "entries", "errors", "repeat_of")

    def __init__(
        self,
        entries: Iterable[tuple[Invitation, Iterable[OutboxItem]]],
        unless_invited_after: Sequence[datetime | None] | None = None,
    ) -> None:
        self.entries = [(invitation, list(items)) for invitation, items in entries]
        if unless_invited_after is not None and len(unless_invited_after) != len(self.entries):
            msg = (
                f"unless_invited_after: {len(unless_invited_after)} times for "
                f"{len(self.entries)} entries (expected one time or None per entry)"
            )
            raise ValueError(msg)
        self.errors: dict[int, StoreError] = {}
        self.candidates: dict[str, int] = {}
        self.repeat_of: dict[int, int] = {}
        for n, (invitation, items) in enumerate(self.entries):
            strays = [i for i in items if i.invitation_id != invitation.id]
            if strays:
                self.errors[n] = StoreError(
                    f"entries[{n}]: "
                    + "; ".join(
                        f"outbox item {i.id!r} sends invitation {i.invitation_id!r}, "
                        f"not {invitation.id!r}"
                        for i in strays
                    )
                )
            elif invitation.id in self.candidates:
                self.repeat_of[n] = self.candidates[invitation.id]
            else:
                self.candidates[invitation.id] = n
        # Each guarded candidate's bound (micros): its customer's invitations must be older.
        self.after: dict[int, int] = {}
        if unless_invited_after is not None:
            for n in self.candidates.values():
                bound = unless_invited_after[n]
                if bound is not None and self.entries[n][0].customer_id is not None:
                    self.after[n] = micros(bound)
        # Encoded here, on the caller's thread, before the write is queued.
        self.bodies = {
            n: to_json(unstructure(self.entries[n][0])) for n in self.candidates.values()
        }

    @property
    def guarded(self) -> list[str]:
        """The customers whose latest invitation :meth:`refused` needs, sorted (the order to lock them in)."""
        return sorted({cid for n in self.after if (cid := self.entries[n][0].customer_id)})

    def refused(
        self, latest: Mapping[str, tuple[str, int]], new: Iterable[int]
    ) -> dict[int, StoreError]:
        """The candidates of *new* (in entry order) not to write: their customer was invited since.

        Args:
            latest: For each :attr:`guarded` customer with invitations stored,
                the id and time (micros) of the latest.
            new: The candidates whose id is not stored.
        """
        latest = dict(latest)
        refused: dict[int, StoreError] = {}
        for n in sorted(new):
            invitation = self.entries[n][0]
            person = invitation.customer_id
            if person is None:
                continue
            last = latest.get(person)
            bound = self.after.get(n)
            if bound is not None and last is not None and last[1] > bound:
                refused[n] = AlreadyInvitedError(person, last[0], from_micros(last[1]))
                continue
            at = micros(invitation.created_at)
            if last is None or at > last[1]:  # written by this call: later entries see it
                latest[person] = (invitation.id, at)
        return refused

    def row(self, n: int) -> tuple[Any, ...]:
        """The ``invitations`` row of entry *n* (:data:`INVITATION_COLUMNS`)."""
        invitation = self.entries[n][0]
        return (
            invitation.id,
            invitation.survey_id,
            invitation.survey_version,
            invitation.channel,
            invitation.customer_id,
            invitation.address,
            micros(invitation.created_at),
            self.bodies[n],
        )

    def audit_rows(self, new: Iterable[int], at: int) -> list[tuple[Any, ...]]:
        """The audit rows of the invitations of entries *new* being created at *at* (micros)."""
        details: dict[str, str] = {}  # one detail a channel, not one an invitation
        rows: list[tuple[Any, ...]] = []
        for n in new:
            invitation = self.entries[n][0]
            detail = details.get(invitation.channel)
            if detail is None:
                detail = details[invitation.channel] = audit_detail({"channel": invitation.channel})
            rows.append((at, "invitation", invitation.id, "created", detail))
        return rows

    def items(self, n: int) -> list[OutboxItem]:
        """The outbox items of entry *n*."""
        return self.entries[n][1]

    def results(
        self, stored: Mapping[str, str], failed: Mapping[int, StoreError]
    ) -> list[AddedInvitation | StoreError]:
        """Each entry's result, given the bodies of the candidates' ids *stored* before, and the candidates that *failed*."""
        found: dict[str, Invitation] = {}
        results: list[AddedInvitation | StoreError] = []
        for n, (invitation, _) in enumerate(self.entries):
            error = self.errors.get(n)
            if error is not None:
                results.append(error)
                continue
            first = self.repeat_of.get(n, n)
            error = failed.get(first)
            if error is not None:
                results.append(error)
                continue
            body = stored.get(invitation.id)
            if body is not None:
                earlier = found.get(invitation.id)
                if earlier is None:
                    earlier = found[invitation.id] = structure(
                        json.loads(body), Invitation, source=f"stored invitation {invitation.id}"
                    )
                results.append(AddedInvitation(earlier, created=False))
            elif first == n:
                results.append(AddedInvitation(invitation, created=True))
            else:
                results.append(AddedInvitation(self.entries[first][0], created=False))
        return results
