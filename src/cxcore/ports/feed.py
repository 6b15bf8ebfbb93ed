"""The feed: an ordered, durable record of what the store took in.

Every accepted answer, opt-out, opt-in and delivery status is appended to the
feed in the same transaction as the write it reports, so a consumer that reads
the feed from a cursor it keeps sees every change once and in commit order,
whichever process made it. Consumers never poll tables for "what changed".

An event holds no personal identifiers: an answer event names the response,
the survey and the scored answers with the dimensions reports group by; an
opt-out names the channel and where it came from, never the address.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from cxcore.model._checks import member_or_value
from cxcore.model.frozendict import FrozenDict

__all__ = ["FeedEvent", "FeedKind"]


class FeedKind(enum.StrEnum):
    """What a feed event reports.

    .. versionadded:: 0.1.0
    """

    ANSWER = "answer"
    """A submission created or changed a response (``subject`` is the response id)."""
    OPT_OUT = "opt_out"
    """An address opted out of a channel (``subject`` is the invitation id, or ``""``)."""
    OPT_IN = "opt_in"
    """An address opted back in (``subject`` as for ``opt_out``)."""
    STATUS = "status"
    """A delivery status was recorded (``subject`` is the invitation id)."""
    IMPORT = "import"
    """A batch of complete responses was appended (imports): one event per survey and batch,
    ``subject`` its first response, ``detail`` the ``count`` and the ``responses`` ids."""


def _kind(value: FeedKind | str) -> FeedKind:
    return member_or_value(FeedKind, value)


def _detail(value: Mapping[str, Any]) -> FrozenDict[str, Any]:
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


@attrs.frozen(kw_only=True)
class FeedEvent:
    """One entry of the feed.

    Attributes:
        seq: Its position: feed positions only grow, in the order the writes
            committed. A consumer's cursor is the last ``seq`` it handled.
        kind: What it reports.
        at: When the write happened (the store's clock).
        subject: The id of what changed: a response id for answers, an
            invitation id for statuses and opt-outs.
        survey_id: The survey concerned, when there is one.
        detail: What changed, as JSON values. For ``answer``: ``outcome``
            (``created``/``updated``), ``status``, ``respondent``, ``channel``,
            ``version``, ``answered_at`` (ISO time), ``dimensions`` (the
            response's dimensions), ``scores`` (scored question id to value)
            and ``replaced`` (the previous values of scored answers this
            submission changed). For ``status``: ``disposition`` and
            ``channel``. For ``opt_out``/``opt_in``: ``channel``, ``keyword``,
            ``source`` and ``purpose``.

    .. versionadded:: 0.1.0
    """

    seq: int
    kind: FeedKind = attrs.field(converter=_kind)
    at: datetime
    subject: str
    survey_id: str | None = None
    detail: FrozenDict[str, Any] = attrs.field(factory=FrozenDict, converter=_detail)
