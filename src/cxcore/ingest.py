"""Deciding what a submission does to the stored responses. Pure: no I/O, no clock.

Every store backend asks :func:`plan_submission` and then writes what it says,
so SQLite and PostgreSQL behave identically:

* no response yet for the invitation: a new response;
* a partial response: the new answers are merged in (a later answer to the
  same invitation completes the same response; an earlier answer to a question
  the new answers hide is dropped, see :func:`merge_answers`);
* a complete response: the survey's :class:`~cxcore.RepeatPolicy` decides:
  ``first_wins`` ignores the new answers, ``last_wins`` merges them over the old
  ones, ``keep_all`` stores a new response.

Answers are checked against the survey after merging; a bad submission raises
:class:`~cxcore.ValidationError` and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, cast

import attrs

from cxcore.model.response import Response, ResponseStatus
from cxcore.model.survey import AnswerValue, RepeatPolicy, Survey
from cxcore.ports.store import StoreError, Submission, SubmitOutcome

__all__ = ["Plan", "merge_answers", "plan_submission", "submission_fingerprint"]

_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""The fingerprint's JSON: made once, where ``json.dumps`` with options makes an encoder a call."""


@attrs.frozen
class Plan:
    """What to write for a submission.

    Attributes:
        outcome: What the submission does.
        response: The response to store (or, when ignored, the one kept).
        write: Whether :attr:`response` must be written (insert or update by id).

    .. versionadded:: 0.1.0
    """

    outcome: SubmitOutcome
    response: Response
    write: bool


def submission_fingerprint(submission: Submission) -> str:
    """A digest of what a submission says, for idempotency checks.

    The arrival time is left out: a client retrying the same request sends the
    same payload, but it arrives later.
    """
    body: dict[str, Any] = {
        "survey": [submission.survey_id, submission.survey_version],
        "answers": {
            k: list(v) if isinstance(v, tuple) else v for k, v in submission.answers.items()
        },
        "complete": submission.complete,
        "channel": submission.channel,
        "respondent": submission.respondent.value,
        "customer_id": submission.customer_id,
        "agent_id": submission.agent_id,
        "invitation_id": submission.invitation_id,
        "interaction_id": submission.interaction_id,
        "locale": submission.locale,
        "context": dict(submission.context),
    }
    return hashlib.sha256(_CANONICAL.encode(body).encode()).hexdigest()


def merge_answers(
    survey: Survey, earlier: Mapping[str, AnswerValue], new: Mapping[str, AnswerValue]
) -> dict[str, AnswerValue]:
    """*new* answers over *earlier* ones, without earlier answers the new ones hide.

    A corrected score that hides a follow-up question ("what went wrong?"
    after a 3 becomes a 9) drops the follow-up's earlier answer, as the
    respondent would see it. New answers are kept as given: a new answer to a
    hidden question is still an error for the survey's checks.

    >>> from cxcore import Condition, NpsQuestion, Survey, TextQuestion
    >>> survey = Survey(id="s", title={"en": "S"}, questions=[
    ...     NpsQuestion(id="ltr", text={"en": "?"}),
    ...     TextQuestion(id="why", text={"en": "Why?"}, show_if=[Condition("ltr", "le", 6)])])
    >>> merge_answers(survey, {"ltr": 3, "why": "Slow"}, {"ltr": 9})
    {'ltr': 9}

    .. versionadded:: 0.1.0
    """
    merged: dict[str, AnswerValue] = {**earlier, **new}
    while True:
        shown = {q.id for q in survey.visible(merged)}
        stale = [q for q in merged if q not in new and q not in shown and q in earlier]
        if not stale:
            return merged
        for question in stale:
            del merged[question]


def plan_submission(
    survey: Survey, submission: Submission, existing: Response | None, *, new_id: str
) -> Plan:
    """Decide what *submission* does, given the invitation's latest *existing* response.

    Args:
        survey: The survey version the submission answers.
        submission: The incoming answers.
        existing: The latest stored response to the same invitation, if any.
        new_id: The id to give a new response.

    Raises:
        ValidationError: If the (merged) answers do not fit the survey.
        StoreError: If the submission and survey do not match.
    """
    if (survey.id, survey.version) != (submission.survey_id, submission.survey_version):
        msg = (
            f"submission answers survey {submission.survey_id!r} v{submission.survey_version}, "
            f"not {survey.id!r} v{survey.version}"
        )
        raise StoreError(msg)
    answers = cast("dict[str, AnswerValue]", survey.normalize_answers(submission.answers))
    if answers != submission.answers:
        submission = attrs.evolve(submission, answers=answers)
    if existing is None or (existing.is_complete and survey.on_repeat is RepeatPolicy.KEEP_ALL):
        survey.validate_answers(submission.answers, complete=submission.complete)
        return Plan(SubmitOutcome.CREATED, _new_response(submission, new_id), write=True)
    if existing.is_complete and survey.on_repeat is RepeatPolicy.FIRST_WINS:
        return Plan(SubmitOutcome.IGNORED, existing, write=False)
    merged = merge_answers(survey, existing.answers, submission.answers)
    complete = existing.is_complete or submission.complete
    survey.validate_answers(merged, complete=complete)
    at = max(existing.updated_at, submission.received_at)
    completed_at = existing.completed_at
    if complete and (completed_at is None or submission.complete):
        completed_at = min(max(submission.received_at, existing.started_at), at)
    updated = attrs.evolve(
        existing,
        answers=merged,
        status=ResponseStatus.COMPLETE if complete else ResponseStatus.PARTIAL,
        updated_at=at,
        completed_at=completed_at,
        locale=submission.locale,
    )
    return Plan(SubmitOutcome.UPDATED, updated, write=True)


def _new_response(submission: Submission, new_id: str) -> Response:
    # Every field comes from the checked submission, or follows from it and the
    # survey checks it passed: the response's own checks would hold again.
    at = submission.received_at
    return Response._from_checked(  # noqa: SLF001 - the model's planner
        id=new_id,
        survey_id=submission.survey_id,
        survey_version=submission.survey_version,
        answers=submission.answers,
        status=ResponseStatus.COMPLETE if submission.complete else ResponseStatus.PARTIAL,
        respondent=submission.respondent,
        channel=submission.channel,
        idempotency_key=submission.idempotency_key,
        started_at=at,
        updated_at=at,
        completed_at=at if submission.complete else None,
        customer_id=submission.customer_id,
        agent_id=submission.agent_id,
        interaction_id=submission.interaction_id,
        invitation_id=submission.invitation_id,
        locale=submission.locale,
        context=submission.context,
    )
