"""Response rates by the AAPOR Standard Definitions (RR1 and RR2), per segment.

Each invitation's final disposition falls in one AAPOR group: complete (I),
partial (P), refusal (R), non-contact or other eligible non-response (NC, O),
or unknown eligibility (U, such as a bounced email). RR1 counts only
completes; RR2 counts completes and partials; both divide by every case whose
eligibility is known or unknown, so they are the conservative rates.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

import attrs

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_count,
    fmt_percent,
)
from cxcore.errors import CxError
from cxcore.model.invitation import Disposition, Invitation
from cxcore.scoring.cells import GroupValue

__all__ = ["AaporGroup", "ResponseRate", "aapor_group", "aapor_rates", "response_rates"]


class AaporGroup(enum.StrEnum):
    """The AAPOR case groups a disposition falls in.

    .. versionadded:: 0.1.0
    """

    COMPLETE = "complete"
    PARTIAL = "partial"
    REFUSAL = "refusal"
    NON_CONTACT = "non_contact"
    OTHER = "other"
    UNKNOWN = "unknown"


_GROUPS = {
    Disposition.COMPLETED: AaporGroup.COMPLETE,
    Disposition.STARTED: AaporGroup.PARTIAL,
    Disposition.COMPLAINED: AaporGroup.REFUSAL,
    Disposition.DISMISSED: AaporGroup.REFUSAL,  # seen, and declined
    Disposition.SENT: AaporGroup.NON_CONTACT,
    Disposition.DELIVERED: AaporGroup.NON_CONTACT,
    Disposition.EXPIRED: AaporGroup.NON_CONTACT,
    Disposition.OPENED: AaporGroup.OTHER,
    Disposition.BOUNCED: AaporGroup.UNKNOWN,
    Disposition.FAILED: AaporGroup.UNKNOWN,
}


def aapor_group(disposition: Disposition | str) -> AaporGroup:
    """The AAPOR group of an invitation's final disposition.

    Delivered, sent or expired without an answer is a non-contact; opened
    without an answer is another eligible non-response; a complaint is a
    refusal; a bounce or failed send leaves eligibility unknown.

    Raises:
        CxError: For an unknown disposition.

    .. versionadded:: 0.1.0
    """
    try:
        return _GROUPS[Disposition(disposition)]
    except ValueError:
        allowed = ", ".join(d.value for d in Disposition)
        msg = f"{disposition!r} is not a disposition (expected one of {allowed})"
        raise CxError(msg) from None


def aapor_rates(
    *,
    complete: int,
    partial: int = 0,
    refusal: int = 0,
    non_contact: int = 0,
    other: int = 0,
    unknown: int = 0,
) -> tuple[float | None, float | None]:
    """AAPOR RR1 and RR2, as fractions, from case counts (``None`` with no cases).

    RR1 = I / ((I + P) + (R + NC + O) + U); RR2 = (I + P) / (the same).

    >>> aapor_rates(complete=30, partial=10, refusal=5, non_contact=50, unknown=5)
    (0.3, 0.4)

    .. versionadded:: 0.1.0
    """
    counts = (complete, partial, refusal, non_contact, other, unknown)
    if any(c < 0 for c in counts):
        msg = f"case counts must not be negative: {counts!r}"
        raise CxError(msg)
    total = sum(counts)
    if total == 0:
        return (None, None)
    return (complete / total, (complete + partial) / total)


@attrs.frozen
class ResponseRate(TableDisplay):
    """The response rates of one segment.

    Attributes:
        by: The segmenting dimensions.
        key: This segment's values.
        invited: Invitations in the segment.
        counts: Invitations per AAPOR group.
        rr1: AAPOR RR1 (completes only), a fraction.
        rr2: AAPOR RR2 (completes and partials), a fraction.

    .. versionadded:: 0.1.0
    """

    by: tuple[str, ...]
    key: tuple[GroupValue, ...]
    invited: int
    counts: dict[AaporGroup, int]
    rr1: float | None
    rr2: float | None

    def __repr__(self) -> str:
        where = ", ".join(
            f"{name}={value!r}" for name, value in zip(self.by, self.key, strict=True)
        )
        return (
            f"ResponseRate({where or 'overall'}: RR1 {fmt_percent(self.rr1)}, "
            f"RR2 {fmt_percent(self.rr2)} of {self.invited:,} invited)"
        )

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The segment as a one-row table: its cases per AAPOR group and RR1, RR2.

        Args:
            max_rows: Unused (one row); accepted as every result's display takes it.
        """
        where = ", ".join(
            f"{name} = {value}" for name, value in zip(self.by, self.key, strict=True)
        )
        groups = list(AaporGroup)
        return Table(
            title=f"Response rates{f', {where}' if where else ''}",
            columns=(
                Column("invited", format=fmt_count, align="right"),
                *(
                    Column(g.value.replace("_", "-"), format=fmt_count, align="right")
                    for g in groups
                ),
                Column("RR1", format=fmt_percent, align="right"),
                Column("RR2", format=fmt_percent, align="right"),
            ),
            rows=[(self.invited, *(self.counts.get(g, 0) for g in groups), self.rr1, self.rr2)],
            notes=("AAPOR RR1 counts completes, RR2 completes and partials, over every case.",),
            max_rows=max_rows,
        )


def _value(invitation: Invitation, name: str) -> GroupValue:
    if name == "channel":
        return invitation.channel
    if name == "survey":
        return invitation.survey_id
    return invitation.context.get(name)


def response_rates(
    outcomes: Iterable[tuple[Invitation, Disposition | str]],
    *,
    by: Sequence[str] = (),
) -> list[ResponseRate]:
    """AAPOR RR1 and RR2 per segment, from each invitation's final disposition.

    An invitation listed twice counts once, with its last disposition.

    Args:
        outcomes: Pairs of invitation and final disposition.
        by: Dimensions to segment by: ``channel``, ``survey``, or any context
            key (``store``, ``touchpoint``...).

    Returns:
        One rate per segment, in order of first appearance.

    .. versionadded:: 0.1.0
    """
    last: dict[str, tuple[Invitation, AaporGroup]] = {}
    for invitation, disposition in outcomes:
        last[invitation.id] = (invitation, aapor_group(disposition))
    segments: dict[tuple[GroupValue, ...], dict[AaporGroup, int]] = {}
    for invitation, group in last.values():
        key = tuple(_value(invitation, name) for name in by)
        counts = segments.setdefault(key, dict.fromkeys(AaporGroup, 0))
        counts[group] += 1
    out = []
    for key, counts in segments.items():
        rr1, rr2 = aapor_rates(**{g.value: c for g, c in counts.items()})
        out.append(ResponseRate(tuple(by), key, sum(counts.values()), counts, rr1, rr2))
    return out
