"""What scoring reads from a response, and the error raised for rows it cannot read."""

from __future__ import annotations

from cxcore.errors import ValidationError
from cxcore.model.response import Response
from cxcore.scoring.cells import GroupValue

__all__ = ["ScoreInputError", "response_dimensions"]


class ScoreInputError(ValidationError):
    """Rows of a score table are invalid: each problem names the row, the column and the value.

    Rows are listed in ascending order. Rows read from a CSV file are numbered as
    an editor numbers its lines (the header is line 1); rows of columns given in
    memory are numbered from 1.

    .. versionadded:: 0.1.0
    """


def response_dimensions(response: Response) -> dict[str, GroupValue]:
    """The dimensions a response's answers are grouped by.

    These are the response's context (touchpoint, store, agent, channel of
    the interaction, free attributes...), plus ``survey``, ``response``,
    ``respondent`` (customer, anonymous or agent), ``customer_id`` (``None``
    for an anonymous or agent-reported answer without one), and
    ``answer_channel`` (the channel the answers came in on). The
    ``question`` dimension is added per answer.

    .. versionadded:: 0.1.0
    """
    dims: dict[str, GroupValue] = dict(response.context)
    dims["survey"] = response.survey_id
    dims["response"] = response.id
    dims["respondent"] = response.respondent.value
    dims["customer_id"] = response.customer_id
    dims["answer_channel"] = response.channel
    return dims
