"""Closed-loop cases: a bad response routed to the person who can fix it."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from cxcore.model._checks import Checks, member_or_value

__all__ = ["Case", "CaseStatus"]


class CaseStatus(enum.StrEnum):
    """Where a closed-loop case is.

    .. versionadded:: 0.1.0
    """

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


def _status(value: CaseStatus | str) -> CaseStatus:
    return member_or_value(CaseStatus, value)


@attrs.frozen(kw_only=True)
class Case:
    """A response that needs action, owned by whoever can act on it.

    Args:
        id: The case's id.
        owner: Who must act: the touchpoint's owner (``"store_manager"``) or a person.
        status: Where the case is.
        reason: Why it was opened (``"NPS detractor (3)"``).
        opened_at: When it was opened.
        updated_at: When it last changed.
        due_at: When it must be resolved by, if there is a deadline.
        response_id: The response that triggered it.
        customer_id: The customer to get back to, if known.

    .. versionadded:: 0.1.0
    """

    id: str
    owner: str
    status: CaseStatus = attrs.field(converter=_status)
    reason: str
    opened_at: datetime
    updated_at: datetime
    due_at: datetime | None = None
    response_id: str | None = None
    customer_id: str | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.text("id", self.id, single_line=True)
        checks.identifier("owner", self.owner)
        checks.member("status", self.status, CaseStatus, "a case status")
        checks.text("reason", self.reason)
        opened_ok = checks.aware("opened_at", self.opened_at)
        updated_ok = checks.aware("updated_at", self.updated_at)
        if opened_ok and updated_ok and self.updated_at < self.opened_at:
            checks.add("updated_at", f"{self.updated_at.isoformat()} is before opened_at")
        if self.due_at is not None:
            checks.aware("due_at", self.due_at)
        checks.raise_if_any(f"Case {self.id!r}")
