"""How model values become rows and back, for every SQL backend."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import DIMENSIONS, Scalar
from cxcore.model.response import RespondentKind, Response
from cxcore.model.survey import Survey, TextQuestion

if TYPE_CHECKING:
    from cxcore.ports.store import Submission, SubmitOutcome

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

RESPONSE_COLUMNS = (
    "id",
    "survey_id",
    "survey_version",
    "status",
    "respondent",
    "channel",
    "idempotency_key",
    "started_at",
    "updated_at",
    "completed_at",
    "customer_id",
    "agent_id",
    "interaction_id",
    "invitation_id",
    "locale",
    "answers",
    "context",
)

RESPONSE_SELECT = f"SELECT {', '.join(RESPONSE_COLUMNS)} FROM responses"
"""The query of every response row (:data:`RESPONSE_COLUMNS`), for a ``WHERE`` to follow."""


SCORE_DIMENSIONS = ("touchpoint", "journey", "store", "agent", "product", "channel")
"""The context keys ``answer_scores`` keeps in columns of their own (``d_store``...)."""

SCORE_COLUMNS = (
    "response_id",
    "question",
    "survey_id",
    "survey_version",
    "value",
    "answered_at",
    "status",
    "respondent",
    "channel",
    *(f"d_{name}" for name in SCORE_DIMENSIONS),
)


RETAINED_CONTEXT = frozenset(DIMENSIONS) - {"order"}
"""The context keys a response keeps when retention anonymises it."""


def micros(value: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch (UTC): sortable and exact."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The aware UTC datetime of :func:`micros`."""
    return _EPOCH + timedelta(microseconds=value)


def maybe_micros(value: datetime | None) -> int | None:
    """:func:`micros`, passing ``None`` through."""
    return None if value is None else micros(value)


def maybe_datetime(value: int | None) -> datetime | None:
    """:func:`from_micros`, passing ``None`` through."""
    return None if value is None else from_micros(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def to_json(value: Any) -> str:  # noqa: ANN401 - plain data of any shape
    """Compact, stable JSON."""
    # One encoder for every call: json.dumps with options builds a new one each time.
    return _ENCODER.encode(value)


def response_row(r: Response) -> tuple[Any, ...]:
    """The row of a response, in :data:`RESPONSE_COLUMNS` order."""
    answers = {k: list(v) if isinstance(v, tuple) else v for k, v in r.answers.items()}
    return (
        r.id,
        r.survey_id,
        r.survey_version,
        r.status.value,
        r.respondent.value,
        r.channel,
        r.idempotency_key,
        micros(r.started_at),
        micros(r.updated_at),
        maybe_micros(r.completed_at),
        r.customer_id,
        r.agent_id,
        r.interaction_id,
        r.invitation_id,
        r.locale,
        to_json(answers),
        to_json(dict(r.context)),
    )


def row_fingerprint(row: Sequence[Any]) -> str:
    """A digest of a response's row: two rows with the same one hold the same response."""
    return hashlib.sha256("\x1f".join(map(str, row)).encode()).hexdigest()


def audit_detail(detail: Mapping[str, Scalar | None]) -> str:
    """The JSON text of an audit entry's *detail*, without the values that are ``None``."""
    return to_json({k: v for k, v in detail.items() if v is not None})


def _as_stored(value: object) -> object:
    # JSON true and false are the integers 1 and 0 to SQL (json_extract in SQLite).
    return int(value) if isinstance(value, bool) else value


def score_rows(
    r: Response,
    questions: Collection[str],
    dimension: Callable[[object], object] = _as_stored,
) -> list[tuple[Any, ...]]:
    """The ``answer_scores`` rows of a response, in :data:`SCORE_COLUMNS` order.

    Args:
        r: The response.
        questions: The ids of its survey version's scored questions; each one
            answered gives a row.
        dimension: How a present context value is written (the backend's
            spelling); a missing one is ``None``.
    """
    answered = micros(r.completed_at or r.updated_at)
    context = r.context
    dims = tuple(
        None if (found := context.get(name)) is None else dimension(_as_stored(found))
        for name in SCORE_DIMENSIONS
    )
    rows: list[tuple[Any, ...]] = []
    for question in questions:
        answer = r.answers.get(question)
        if isinstance(answer, int) and not isinstance(answer, bool):
            rows.append(
                (
                    r.id,
                    question,
                    r.survey_id,
                    r.survey_version,
                    answer,
                    answered,
                    r.status.value,
                    r.respondent.value,
                    r.channel,
                    *dims,
                )
            )
    return rows


def score_keys(r: Response, questions: Collection[str]) -> list[tuple[Any, ...]]:
    """The primary keys ``answer_scores`` may hold for a response: one per scored question.

    (survey id, version, question, time answered, response id): the stores
    delete a response's rows by these keys, so the table needs no index by
    response.
    """
    answered = micros(r.completed_at or r.updated_at)
    return [(r.survey_id, r.survey_version, q, answered, r.id) for q in questions]


def scored_questions(survey: Survey) -> tuple[str, ...]:
    """The ids of the questions of *survey* that feed a metric: those ``answer_scores`` keeps."""
    return tuple(q.id for q in survey.scored_questions())


def batch_scores(
    batch: Sequence[Response],
    surveys: Mapping[tuple[str, int], Survey | Exception],
    dimension: Callable[[object], object] = _as_stored,
) -> dict[str, list[tuple[Any, ...]]]:
    """The ``answer_scores`` rows of each response of a checked batch, by response id.

    *surveys* holds each (survey id, version) of the batch; a batch whose
    survey is unknown (an exception in its place) was refused before this.
    """
    scored = {key: scored_questions(s) for key, s in surveys.items() if isinstance(s, Survey)}
    return {r.id: score_rows(r, scored[(r.survey_id, r.survey_version)], dimension) for r in batch}


def response_from_row(row: Any) -> Response:  # noqa: ANN401 - a DB-API row
    """Rebuild a response from a row in :data:`RESPONSE_COLUMNS` order."""
    (
        id_,
        survey_id,
        survey_version,
        status,
        respondent,
        channel,
        key,
        started,
        updated,
        completed,
        customer_id,
        agent_id,
        interaction_id,
        invitation_id,
        locale,
        answers,
        context,
    ) = row
    return Response(
        id=id_,
        survey_id=survey_id,
        survey_version=survey_version,
        answers=json.loads(answers),
        status=status,
        respondent=respondent,
        channel=channel,
        idempotency_key=key,
        started_at=from_micros(started),
        updated_at=from_micros(updated),
        completed_at=maybe_datetime(completed),
        customer_id=customer_id,
        agent_id=agent_id,
        interaction_id=interaction_id,
        invitation_id=invitation_id,
        locale=locale,
        context=FrozenDict(json.loads(context)),
    )


def retention_cutoffs(surveys: Iterable[Survey], now: datetime) -> list[tuple[Survey, int]]:
    """Each survey version with a ``retention_days``, and the time (µs) before which it purges."""
    return [
        (s, micros(now - timedelta(days=s.retention_days)))
        for s in surveys
        if s.retention_days is not None
    ]


def anonymised(r: Response, survey: Survey) -> Response:
    """What retention keeps of a response: its answers, made anonymous.

    The customer, interaction and invitation links go, open-text answers go,
    the respondent becomes anonymous (agent reports stay agent reports), and
    the context keeps only :data:`RETAINED_CONTEXT`.
    """
    text = {q.id for q in survey.questions if isinstance(q, TextQuestion)}
    return Response(
        id=r.id,
        survey_id=r.survey_id,
        survey_version=r.survey_version,
        answers={k: v for k, v in r.answers.items() if k not in text},
        status=r.status,
        respondent=RespondentKind.AGENT if r.is_agent_reported else RespondentKind.ANONYMOUS,
        agent_id=r.agent_id,
        channel=r.channel,
        idempotency_key=r.idempotency_key,
        started_at=r.started_at,
        updated_at=r.updated_at,
        completed_at=r.completed_at,
        locale=r.locale,
        context={k: v for k, v in r.context.items() if k in RETAINED_CONTEXT},
    )


def address_hash(address: str) -> str:
    """The digest suppression lists keep instead of the address itself.

    Emails are compared case-insensitively; whitespace around any address is ignored.
    """
    normal = address.strip()
    if "@" in normal:
        normal = normal.lower()
    return hashlib.sha256(normal.encode()).hexdigest()


def mask(identifier: str | None) -> str:
    """An identifier fit for logs: its first character and a short digest.

    >>> mask("asha@example.in")
    'a…a52df0'
    """
    if not identifier:
        return "-"
    return f"{identifier[0]}…{hashlib.sha256(identifier.encode()).hexdigest()[:6]}"


_store_log = logging.getLogger("cxcore.store")


def log_submission(submission: Submission, outcome: SubmitOutcome) -> None:
    """Log what a submission did, at DEBUG, its key and customer masked."""
    if not _store_log.isEnabledFor(logging.DEBUG):
        return  # the masks below cost more than the message is worth unseen
    _store_log.debug(
        "submission %s for survey %s v%s by %s: %s",
        mask(submission.idempotency_key),
        submission.survey_id,
        submission.survey_version,
        mask(submission.customer_id),
        outcome.value,
    )
