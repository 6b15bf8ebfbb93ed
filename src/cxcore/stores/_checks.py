"""What every backend refuses before it touches the database: bad settings, limits, sizes and batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cxcore.definitions import unstructure
from cxcore.errors import ValidationError
from cxcore.model.response import Response
from cxcore.model.survey import Survey
from cxcore.ports.store import PayloadTooLargeError, Submission, UnknownSurveyError
from cxcore.stores._rows import to_json


def check_counts(**counts: int) -> None:
    """Refuse a setting that counts something (writes, parts, connections) and is below 1."""
    for name, value in counts.items():
        if value < 1:
            msg = f"{name}: {value} is not 1 or more"
            raise ValueError(msg)


def check_limit(limit: int) -> None:
    """Refuse a claim's *limit* below 0."""
    if limit < 0:
        msg = f"limit: {limit} is not 0 or more"
        raise ValueError(msg)


# What a submission's JSON holds besides its texts and values: field names,
# punctuation, the version, the flags and the arrival time (about 400 bytes).
_FIXED_BYTES = 1024
# The most bytes one character of text takes in the JSON: a control character
# escaped as \u001f (UTF-8 itself takes at most 4, a lone surrogate 3).
_BYTES_PER_CHAR = 6
# The most characters a bool, None, a float or a machine-sized int takes.
_SCALAR_CHARS = 26


def _scalar_chars(value: object) -> int | None:
    """An upper bound of the characters *value* takes in JSON, or None if unknown."""
    if isinstance(value, str):
        return len(value) * _BYTES_PER_CHAR + 2
    if value is None or isinstance(value, bool | float):
        return _SCALAR_CHARS
    if isinstance(value, int):
        return _SCALAR_CHARS if -(10**20) < value < 10**20 else None
    return None


def _size_bound(submission: Submission) -> int | None:
    """An upper bound of the submission's JSON size in bytes, or None if one is not cheap."""
    size = _FIXED_BYTES
    texts = (
        submission.idempotency_key,
        submission.survey_id,
        submission.channel,
        submission.locale,
        submission.customer_id,
        submission.agent_id,
        submission.invitation_id,
        submission.interaction_id,
    )
    for text in texts:
        if text is not None:
            size += len(text) * _BYTES_PER_CHAR
    for mapping in (submission.answers, submission.context):
        for key, value in mapping.items():
            size += len(key) * _BYTES_PER_CHAR + 4
            items = value if isinstance(value, tuple) else (value,)
            for item in items:
                chars = _scalar_chars(item)
                if chars is None:
                    return None
                size += chars + 1
    return size


def refuse_too_large(submission: Submission, limit: int) -> None:
    """Refuse *submission* if its JSON is over *limit* bytes.

    Lone surrogates count as UTF-8 would spell them: the survey's checks,
    which come next, name the answer holding one. The JSON is only written
    out when a cheap upper bound of its size is over *limit*: most
    submissions are a few hundred bytes, far below it.

    Raises:
        PayloadTooLargeError: If it is larger.
    """
    bound = _size_bound(submission)
    if bound is not None and bound <= limit:
        return
    size = len(to_json(unstructure(submission)).encode("utf-8", "surrogatepass"))
    if size > limit:
        msg = f"submission is {size} bytes (at most {limit} accepted)"
        raise PayloadTooLargeError(msg)


def refuse_invalid(
    batch: Sequence[Response], surveys: Mapping[tuple[str, int], Survey | UnknownSurveyError]
) -> None:
    """Raise one ExceptionGroup naming every response of *batch* that cannot be stored."""
    errors: list[Exception] = []
    for i, r in enumerate(batch):
        survey = surveys[(r.survey_id, r.survey_version)]
        error: Exception | None = None
        if isinstance(survey, UnknownSurveyError):
            error = UnknownSurveyError(str(survey))
        else:
            problems = survey.check_answers(r.answers, complete=r.is_complete)
            if problems:
                error = ValidationError(
                    f"Answers to survey {r.survey_id!r} v{r.survey_version}", problems
                )
        if error is not None:
            error.add_note(f"response {i} ({r.id!r})")
            errors.append(error)
    if errors:
        msg = f"{len(errors)} of {len(batch)} responses were refused; nothing was written"
        raise ExceptionGroup(msg, errors)
