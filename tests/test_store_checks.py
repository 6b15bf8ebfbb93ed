"""The stores' size check: its cheap bound never lets a submission over the limit through."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from cxcore.definitions import unstructure
from cxcore.errors import ValidationError
from cxcore.ports.store import PayloadTooLargeError, Submission
from cxcore.stores._checks import _size_bound, refuse_too_large
from cxcore.stores._rows import to_json

# Any text JSON may carry: control characters (escaped), emoji, lone surrogates.
TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)
VALUES = st.one_of(
    TEXT,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.tuples(TEXT, TEXT),
)
IDS = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)


def exact_size(submission: Submission) -> int:
    return len(to_json(unstructure(submission)).encode("utf-8", "surrogatepass"))


@given(
    answers=st.dictionaries(IDS, VALUES, max_size=6),
    context=st.dictionaries(IDS, st.one_of(TEXT, st.integers(), st.booleans()), max_size=4),
    key=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60),
)
def test_the_bound_is_never_below_the_json_size(
    answers: dict[str, Any], context: dict[str, Any], key: str
) -> None:
    try:
        sub = Submission(
            idempotency_key=key,
            survey_id="nps",
            survey_version=1,
            answers=answers,
            complete=False,
            channel="kiosk",
            respondent="anonymous",
            received_at=datetime(2026, 12, 7, tzinfo=UTC),
            context=context,
        )
    except ValidationError:
        reject()  # a submission that cannot be built never reaches the size check
    bound = _size_bound(sub)
    assert bound is None or bound >= exact_size(sub)


def test_an_oversized_submission_is_refused_with_its_exact_size() -> None:
    sub = Submission(
        idempotency_key="k",
        survey_id="nps",
        survey_version=1,
        answers={"ltr": 2, "why": "\x01" * 20_000},  # escaped: 6 bytes a character
        complete=False,
        channel="kiosk",
        respondent="anonymous",
        received_at=datetime(2026, 12, 7, tzinfo=UTC),
    )
    size = exact_size(sub)
    assert size > 100_000
    refuse_too_large(sub, size)  # exactly at the limit: accepted
    with pytest.raises(PayloadTooLargeError, match=f"submission is {size} bytes"):
        refuse_too_large(sub, size - 1)
