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


def refuse_too_large(submission: Submission, limit: int) -> None:
    """Refuse *submission* if its JSON is over *limit* bytes.

    Lone surrogates count as UTF-8 would spell them: the survey's checks,
    which come next, name the answer holding one.

    Raises:
        PayloadTooLargeError: If it is larger.
    """
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
