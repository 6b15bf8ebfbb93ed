"""New responses stored together: one statement for a group of them, and their feed rows.

:meth:`PostgresStore.submit <cxcore.stores.PostgresStore.submit>` stores a
submission that starts a new response (no invitation) this way, with those of
the other new responses waiting (group commit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cxcore.stores._new_responses import NewResponse
from cxcore.stores._rows import RESPONSE_COLUMNS, SCORE_COLUMNS
from cxcore.stores.postgres._base import INSERT_FEED

_NOT_TEXT = {
    "survey_version": "int",
    "value": "bigint",
    "answered_at": "bigint",
    "started_at": "bigint",
    "updated_at": "bigint",
    "completed_at": "bigint",
}


_AUDIT_TYPES = {
    "at": "bigint",
    "entity": "text",
    "entity_id": "text",
    "action": "text",
    "detail": "text",
}


def _unnest(columns: Mapping[str, str], alias: str) -> str:
    """Rows from one array parameter per column (``%s::type[]``), named like the columns."""
    arrays = ", ".join(f"%b::{kind}[]" for kind in columns.values())
    return f"unnest({arrays}) AS {alias}({', '.join(columns)})"


def _column_types(columns: Sequence[str]) -> dict[str, str]:
    return {c: "jsonb" if c.startswith("d_") else _NOT_TEXT.get(c, "text") for c in columns}


_SUBMISSION_TYPES = {
    "idempotency_key": "text",
    "fingerprint": "text",
    "response_id": "text",
    "outcome": "text",
    "received_at": "bigint",
}
_CLAIMED = "IN (SELECT response_id FROM claim)"
_INSERT_NEW_RESPONSES = (
    "WITH claim AS (INSERT INTO submissions (idempotency_key, fingerprint, response_id, "
    f"outcome, received_at) SELECT * FROM {_unnest(_SUBMISSION_TYPES, 'k')} "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING response_id), "
    f"response AS (INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) SELECT * FROM "
    f"{_unnest(_column_types(RESPONSE_COLUMNS), 'r')} WHERE r.id {_CLAIMED}), "
    "audit AS (INSERT INTO audit (at, entity, entity_id, action, detail) SELECT * FROM "
    f"{_unnest(_AUDIT_TYPES, 'a')} WHERE a.entity_id {_CLAIMED}), "
    f"scores AS (INSERT INTO answer_scores ({', '.join(SCORE_COLUMNS)}) SELECT * FROM "
    f"{_unnest(_column_types(SCORE_COLUMNS), 's')} WHERE s.response_id {_CLAIMED}) "
    "SELECT response_id FROM claim"
)
"""One statement storing new responses: their keys, rows, scored answers and audit entries.

Its data-modifying CTEs run as one atomic statement, so in autocommit mode
any number of new responses cost one round trip and one commit (with their
feed rows, :data:`_APPEND_STORED_ANSWERS`, in the same pipeline and implicit
transaction). Each table's
rows come from one array per column, so the statement's text never changes
(the server plans it once per connection). A response's rows are written only
if its key was claimed; the statement returns the ids of those that were.
"""

_APPEND_STORED_ANSWERS = INSERT_FEED.format(
    where="WHERE EXISTS (SELECT 1 FROM responses r WHERE r.id = f.subject) "
)
"""The feed rows of the new responses :data:`_INSERT_NEW_RESPONSES` stored, in the same
transaction: their ids are new, so a response with one was stored by this statement."""


def _new_response_params(batch: Sequence[NewResponse]) -> list[list[Any]]:
    """The array parameters of :data:`_INSERT_NEW_RESPONSES` for *batch*."""
    scores = [row for entry in batch for row in entry.scores]
    params: list[list[Any]] = []
    for rows, width in (
        ([e.key for e in batch], len(_SUBMISSION_TYPES)),
        ([e.row for e in batch], len(RESPONSE_COLUMNS)),
        ([e.audit for e in batch], len(_AUDIT_TYPES)),
        (scores, len(SCORE_COLUMNS)),
    ):
        params.extend([row[i] for row in rows] for i in range(width))
    return params
