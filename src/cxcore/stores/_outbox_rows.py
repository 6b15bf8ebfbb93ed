"""How outbox items come back from their rows, and what a claim of sends read, for every SQL backend."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from cxcore.definitions import structure, unstructure
from cxcore.errors import CxError
from cxcore.model.customer import Consent
from cxcore.model.invitation import Invitation
from cxcore.ports.store import (
    AddedInvitation,
    AlreadyInvitedError,
    ClaimedSend,
    InviteGuard,
    OutboxItem,
    OutboxState,
    StoreError,
    StoreLimitError,
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
    "id, survey_id, survey_version, channel, customer_id, address, created_at, body, account_id, "
    "short_code"
)
"""The columns of ``invitations``, in the order of :meth:`InvitationBatch.row`."""


Latest = Iterable[tuple[str, str, str, int]]
"""Rows of the latest invitations: (key, survey or ``""``, invitation id, created_at in micros)."""


class InvitationBatch:
    """One :meth:`Store.add_invitations <cxcore.Store.add_invitations>` call, checked and planned for every backend.

    Each entry's outbox items must be its invitation's, or the entry is refused
    (its error is its result, and it writes nothing). The first entry with an
    id that is not refused is the *candidate* the backend writes; a later entry
    with the same id is a repeat of it and gets its result, as a repeat.

    A backend writes, in one transaction: the candidates whose id is not stored
    yet (:meth:`row`, :meth:`audit_rows`, their items), each alone when writing
    them together fails; then hands :meth:`results` what it found stored and
    which candidates failed. Where the call gives *guards*, the backend first
    locks the :attr:`guarded` customers, :attr:`guarded_accounts` and
    :attr:`store_days` (under locks other writers of them take too), reads
    the latest invitation of each customer to each survey and of each
    account, and each store's count of the day, and :meth:`refused` says
    which new candidates not to write; it adds :meth:`store_counts` of what
    it wrote to each store's count.
    """

    __slots__ = ("after", "bodies", "candidates", "entries", "errors", "limits", "repeat_of")

    def __init__(
        self,
        entries: Iterable[tuple[Invitation, Iterable[OutboxItem]]],
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> None:
        self.entries = [(invitation, list(items)) for invitation, items in entries]
        if guards is not None and len(guards) != len(self.entries):
            msg = (
                f"guards: {len(guards)} guards for {len(self.entries)} entries "
                "(expected one InviteGuard or None per entry)"
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
        # Each guarded candidate's bounds (micros): the person's, the survey's, the
        # account's invitations must be older.
        self.after: dict[int, tuple[int | None, int | None, int | None]] = {}
        # Each candidate under a store's daily limit: (store, day) and the limit.
        self.limits: dict[int, tuple[tuple[str, int], int]] = {}
        if guards is not None:
            for n in self.candidates.values():
                guard = guards[n]
                if guard is None:
                    continue
                key = guard.store_key
                if key is not None and guard.store_limit is not None:
                    self.limits[n] = (key, guard.store_limit)
                invitation = self.entries[n][0]
                if invitation.customer_id is None:
                    continue
                bounds = (
                    _micros_or_none(guard.person_after),
                    _micros_or_none(guard.survey_after),
                    _micros_or_none(guard.account_after)
                    if invitation.account_id is not None
                    else None,
                )
                if bounds != (None, None, None):
                    self.after[n] = bounds
        # Encoded here, on the caller's thread, before the write is queued.
        self.bodies = {
            n: to_json(unstructure(self.entries[n][0])) for n in self.candidates.values()
        }

    @property
    def guarded(self) -> list[str]:
        """The customers whose latest invitations :meth:`refused` needs, sorted (the order to lock them in)."""
        return sorted(
            {
                cid
                for n, (person, survey, _) in self.after.items()
                if (person is not None or survey is not None)
                and (cid := self.entries[n][0].customer_id)
            }
        )

    @property
    def guarded_accounts(self) -> list[str]:
        """The accounts whose latest invitation :meth:`refused` needs, sorted."""
        return sorted(
            {
                account
                for n, (_, _, bound) in self.after.items()
                if bound is not None and (account := self.entries[n][0].account_id)
            }
        )

    @property
    def store_days(self) -> list[tuple[str, int]]:
        """The stores and days whose counts :meth:`refused` needs, sorted (the order to lock them in)."""
        return sorted({key for key, _ in self.limits.values()})

    def store_counts(self, written: Iterable[int]) -> list[tuple[str, int, int]]:
        """What the candidates *written* add to each store's count of the day: (store, day, added)."""
        added: dict[tuple[str, int], int] = {}
        for n in written:
            limited = self.limits.get(n)
            if limited is not None:
                added[limited[0]] = added.get(limited[0], 0) + 1
        return [(store, day, k) for (store, day), k in sorted(added.items())]

    def refused(
        self,
        by_survey: Latest,
        by_account: Latest,
        new: Iterable[int],
        counted: Iterable[tuple[str, int, int]] = (),
    ) -> dict[int, StoreError]:
        """The candidates of *new* (in entry order) not to write: someone was invited since.

        Args:
            by_survey: For each :attr:`guarded` customer, the latest invitation
                to each survey they were invited to: (customer, survey, id, micros).
            by_account: For each of :attr:`guarded_accounts` with invitations,
                the latest: (account, ``""``, id, micros).
            new: The candidates whose id is not stored.
            counted: For each of :attr:`store_days` counted, (store, day, invitations).
        """
        counts = {(store, day): k for store, day, k in counted}
        person: dict[str, tuple[str, int]] = {}
        survey: dict[tuple[str, str], tuple[str, int]] = {}
        account: dict[str, tuple[str, int]] = {}
        for customer, survey_id, invitation_id, at in by_survey:
            survey[customer, survey_id] = (invitation_id, at)
            _later(person, customer, (invitation_id, at))
        for key, _, invitation_id, at in by_account:
            account[key] = (invitation_id, at)
        refused: dict[int, StoreError] = {}
        for n in sorted(new):
            invitation = self.entries[n][0]
            limited = self.limits.get(n)
            if limited is not None:
                (store, day), limit = limited
                if counts.get((store, day), 0) >= limit:
                    refused[n] = StoreLimitError(store, day, limit)
                    continue
            who = invitation.customer_id
            if who is None:
                if limited is not None:
                    counts[limited[0]] = counts.get(limited[0], 0) + 1
                continue
            bounds = self.after.get(n)
            if bounds is not None:
                found = _inside(
                    (person.get(who), bounds[0], "recontact_window"),
                    (survey.get((who, invitation.survey_id)), bounds[1], "survey_window"),
                    (account.get(invitation.account_id or ""), bounds[2], "account_window"),
                )
                if found is not None:
                    (invitation_id, at), window = found
                    refused[n] = AlreadyInvitedError(
                        who,
                        invitation_id,
                        from_micros(at),
                        window=window,
                        account_id=invitation.account_id if window == "account_window" else None,
                    )
                    continue
            # Written by this call: later entries see it.
            if limited is not None:
                counts[limited[0]] = counts.get(limited[0], 0) + 1
            mine = (invitation.id, micros(invitation.created_at))
            _later(person, who, mine)
            _later(survey, (who, invitation.survey_id), mine)
            if invitation.account_id is not None:
                _later(account, invitation.account_id, mine)
        return refused

    def without_short_code(self, n: int) -> bool:
        """Drop entry *n*'s short code (another invitation holds it); whether it had one.

        A code is a digest of the invitation's id, so writing it again would
        fail again: the invitation is written without it, and its channels
        send the long link.
        """
        invitation, items = self.entries[n]
        if invitation.short_code is None:
            return False
        invitation = attrs.evolve(invitation, short_code=None)
        self.entries[n] = (invitation, items)
        self.bodies[n] = to_json(unstructure(invitation))
        return True

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
            invitation.account_id,
            invitation.short_code,
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


def _micros_or_none(at: datetime | None) -> int | None:
    return None if at is None else micros(at)


def _inside(
    *checks: tuple[tuple[str, int] | None, int | None, str],
) -> tuple[tuple[str, int], str] | None:
    """The first (latest invitation, window) whose invitation was made after its bound."""
    for latest, bound, window in checks:
        if latest is not None and bound is not None and latest[1] > bound:
            return latest, window
    return None


def _later(latest: dict[Any, tuple[str, int]], key: object, mine: tuple[str, int]) -> None:
    """Keep *mine* as *key*'s latest invitation if it is later."""
    known = latest.get(key)
    if known is None or mine[1] > known[1]:
        latest[key] = mine
