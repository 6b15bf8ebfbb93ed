"""New responses, planned before the write: every row one needs, made on the caller's thread.

A submission without an invitation starts a new response unless its key was
used before, so nothing stored can change what it writes. Both stores plan
such a submission before they queue it (:func:`new_response`), then store
the rows of many together, each with one statement per table, with those of
the other new responses waiting (group commit). A submission whose key is
taken goes the general way, which tells a repeat from a conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from cxcore.ingest import plan_submission, submission_fingerprint
from cxcore.model.response import Response
from cxcore.model.survey import Survey
from cxcore.ports.store import Submission
from cxcore.stores._feed_rows import FeedRow, answer_row
from cxcore.stores._rows import audit_detail, micros, response_row, score_rows, scored_questions

__all__ = ["NewResponse", "new_response"]


@attrs.frozen
class NewResponse:
    """The rows of one new response: its key, response, audit entry, scored answers and feed event.

    ``response`` is the stored :class:`~cxcore.Response` the caller gets back.
    """

    key: tuple[Any, ...]
    row: tuple[Any, ...]
    audit: tuple[Any, ...]
    scores: tuple[tuple[Any, ...], ...]
    feed: FeedRow
    response: Response

    @property
    def idempotency_key(self) -> str:
        """The key the submission is stored under."""
        return str(self.key[0])


def new_response(
    survey: Survey,
    submission: Submission,
    *,
    new_id: str,
    now: datetime,
    dimension: Callable[[object], object] | None = None,
) -> NewResponse:
    """Plan *submission* (no invitation) as a new response, and make its rows.

    Args:
        survey: The survey version it answers.
        submission: The submission, its answers normalized.
        new_id: The new response's id.
        now: The time of its audit entry and feed event.
        dimension: How the backend spells a scored answer's dimension
            (:func:`~cxcore.stores._rows.score_rows`).

    Raises:
        ValidationError: If the answers do not fit the survey.
    """
    plan = plan_submission(survey, submission, None, new_id=new_id)
    # Checked first: an answer refused (a lone surrogate) may not even encode.
    fingerprint = submission_fingerprint(submission)
    response = plan.response
    questions = scored_questions(survey)
    scores = score_rows(response, questions) if dimension is None else (
        score_rows(response, questions, dimension)
    )  # fmt: skip
    at = micros(now)
    return NewResponse(
        key=(
            submission.idempotency_key,
            fingerprint,
            response.id,
            plan.outcome.value,
            micros(submission.received_at),
        ),
        row=response_row(response),
        audit=(
            at,
            "response",
            response.id,
            plan.outcome.value,
            audit_detail({"status": response.status.value}),
        ),
        scores=tuple(scores),
        feed=answer_row(plan.outcome, response, None, survey, now),
        response=response,
    )
