"""How closed-loop cases come back from their rows, for every SQL backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cxcore.model.case import Case
from cxcore.stores._rows import from_micros, maybe_datetime

CASE_COLUMNS = "id, owner, status, reason, opened_at, updated_at, due_at, response_id, customer_id"
"""The columns of ``cases`` that :func:`case_from_row` reads, in its order."""


def case_from_row(row: Sequence[Any]) -> Case:
    """The case stored in *row* (:data:`CASE_COLUMNS`)."""
    id_, owner, status, reason, opened, updated, due, response_id, customer_id = row
    return Case(
        id=id_,
        owner=owner,
        status=status,
        reason=reason,
        opened_at=from_micros(opened),
        updated_at=from_micros(updated),
        due_at=maybe_datetime(due),
        response_id=response_id,
        customer_id=customer_id,
    )
