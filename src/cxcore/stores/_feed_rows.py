"""What the feed records of each write, and API keys as rows: the same in every dialect.

Feed rows hold no personal identifiers: an answer names its response, its
survey, its scored answers and the dimensions reports group by (never free
text, never a customer id); an opt-out names its channel and source, never the
address.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from cxcore.model.invitation import Disposition
from cxcore.model.response import Response
from cxcore.model.survey import ScoredQuestion, Survey
from cxcore.ports.feed import FeedEvent, FeedKind
from cxcore.ports.store import ApiKey, OptOut, SubmitOutcome
from cxcore.stores._rows import (
    SCORE_DIMENSIONS,
    from_micros,
    maybe_datetime,
    maybe_micros,
    micros,
    to_json,
)

__all__ = [
    "API_KEY_COLUMNS",
    "FEED_COLUMNS",
    "FeedRow",
    "answer_row",
    "api_key_from_row",
    "api_key_row",
    "event_from_row",
    "import_rows",
    "opt_out_row",
    "progress",
    "reached",
    "status_row",
]

FeedRow = tuple[int, str, str, str | None, str]
"""A feed row as written: ``at`` (microseconds), ``kind``, ``subject``, ``survey_id``, ``detail``."""

FEED_COLUMNS = ("seq", "at", "kind", "subject", "survey_id", "detail")
"""The feed's columns, in the order :func:`event_from_row` reads them."""

API_KEY_COLUMNS = ("id", "name", "digest", "scopes", "created_at", "revoked_at")
"""The columns of ``api_keys``, in the order :func:`api_key_from_row` reads them."""


def _scores(survey: Survey, response: Response | None) -> dict[str, int]:
    if response is None:
        return {}
    return {
        q.id: value
        for q in survey.questions
        if isinstance(q, ScoredQuestion)
        and isinstance(value := response.answers.get(q.id), int)
        and not isinstance(value, bool)
    }


def answer_row(
    outcome: SubmitOutcome,
    response: Response,
    existing: Response | None,
    survey: Survey,
    at: datetime,
) -> FeedRow:
    """The feed row of a submission that created or changed *response* (*existing* before it)."""
    scores = _scores(survey, response)
    before = _scores(survey, existing) if outcome is SubmitOutcome.UPDATED else {}
    detail = {
        "outcome": outcome.value,
        "status": response.status.value,
        "respondent": response.respondent.value,
        "channel": response.channel,
        "version": response.survey_version,
        "answered_at": (response.completed_at or response.updated_at).isoformat(),
        # The dimensions scores are kept by; never the order, which names a purchase.
        "dimensions": {d: response.context[d] for d in SCORE_DIMENSIONS if d in response.context},
        "scores": scores,
        "replaced": {q: v for q, v in before.items() if scores.get(q) != v},
    }
    return (micros(at), FeedKind.ANSWER.value, response.id, response.survey_id, to_json(detail))


def import_rows(responses: Sequence[Response], at: datetime) -> list[FeedRow]:
    """One feed row per survey of an appended batch: ``detail`` counts and names its responses."""
    by_survey: dict[str, list[str]] = {}
    for response in responses:
        by_survey.setdefault(response.survey_id, []).append(response.id)
    return [
        (
            micros(at),
            FeedKind.IMPORT.value,
            ids[0],
            survey_id,
            to_json({"count": len(ids), "responses": ids}),
        )
        for survey_id, ids in by_survey.items()
    ]


def opt_out_row(opt_out: OptOut, at: datetime) -> FeedRow:
    """The feed row of an opt-out (or opt-in): its channel and source, never the address."""
    kind = FeedKind.OPT_OUT if opt_out.opted_out else FeedKind.OPT_IN
    detail = {
        "channel": opt_out.channel,
        "source": opt_out.source,
        "keyword": opt_out.keyword,
        "purpose": opt_out.purpose.value,
    }
    return (micros(at), kind.value, opt_out.invitation_id or "", None, to_json(detail))


def status_row(
    invitation_id: str, survey_id: str, channel: str, disposition: Disposition, at: datetime
) -> FeedRow:
    """The feed row of a delivery status recorded for an invitation."""
    detail = {"disposition": disposition.value, "channel": channel}
    return (micros(at), FeedKind.STATUS.value, invitation_id, survey_id, to_json(detail))


def event_from_row(row: Sequence[Any]) -> FeedEvent:
    """A feed event from a row of :data:`FEED_COLUMNS`."""
    seq, at, kind, subject, survey_id, detail = row
    return FeedEvent(
        seq=int(seq),
        kind=kind,
        at=from_micros(at),
        subject=subject,
        survey_id=survey_id,
        detail=json.loads(detail),
    )


def reached(response: Response, existing: Response | None) -> list[tuple[Disposition, datetime]]:
    """What *response*'s invitation reached with this write: ``started``, and ``completed``.

    Every write of a response to an invitation records ``started`` (once, the
    first time is kept), and ``completed`` when the response is complete.
    """
    result = [(Disposition.STARTED, (existing or response).started_at)]
    if response.is_complete and response.completed_at is not None:
        result.append((Disposition.COMPLETED, response.completed_at))
    return result


def progress(dispositions: Iterable[Disposition]) -> Disposition | None:
    """The furthest of *dispositions* along the road to an answer (by rank), if any."""
    ranked = [d for d in dispositions if d.rank is not None]
    return max(ranked, key=lambda d: d.rank or 0, default=None)


def api_key_row(key: ApiKey) -> tuple[str, str, str, str, int, int | None]:
    """*key* as a row of :data:`API_KEY_COLUMNS`."""
    return (
        key.id,
        key.name,
        key.digest,
        to_json(sorted(key.scopes)),
        micros(key.created_at),
        maybe_micros(key.revoked_at),
    )


def api_key_from_row(row: Sequence[Any]) -> ApiKey:
    """An API key from a row of :data:`API_KEY_COLUMNS`."""
    key_id, name, digest, scopes, created_at, revoked_at = row
    return ApiKey(
        id=key_id,
        name=name,
        digest=digest,
        scopes=frozenset(json.loads(scopes)),
        created_at=from_micros(created_at),
        revoked_at=maybe_datetime(revoked_at),
    )
