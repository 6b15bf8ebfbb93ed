"""Responses: one respondent's answers to one survey, with the context they were given in."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from cxcore.model._checks import Checks, member_or_value
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import Scalar, check_scalars, frozen_scalars
from cxcore.model.survey import AnswerValue

__all__ = [
    "MAX_KEY_LENGTH",
    "RespondentKind",
    "Response",
    "ResponseStatus",
    "check_respondent",
]


class ResponseStatus(enum.StrEnum):
    """Whether a response is still being filled in.

    .. versionadded:: 0.1.0
    """

    PARTIAL = "partial"
    """Some answers are in (a one-click score from an email, say); more may follow."""
    COMPLETE = "complete"
    """The respondent submitted the survey."""


class RespondentKind(enum.StrEnum):
    """Who gave the answers.

    Agent-reported feedback is kept apart: scoring counts only customers' own
    answers unless you ask for agent reports explicitly.

    .. versionadded:: 0.1.0
    """

    CUSTOMER = "customer"
    """A known customer answering for themselves."""
    ANONYMOUS = "anonymous"
    """Someone not identified: a kiosk, an open link."""
    AGENT = "agent"
    """An employee recording what a customer told them (walk-in retail)."""


def _answers(value: Mapping[str, Any]) -> FrozenDict[str, AnswerValue]:
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
    return value  # type: ignore[unreachable]  # reported by the checks


def _status(value: ResponseStatus | str) -> ResponseStatus:
    return member_or_value(ResponseStatus, value)


def _respondent(value: RespondentKind | str) -> RespondentKind:
    return member_or_value(RespondentKind, value)


MAX_KEY_LENGTH = 255
"""The longest idempotency key accepted, in characters (keys are UUIDs or hashes;
PostgreSQL cannot index a key much longer than 2,700 bytes)."""


@attrs.frozen(kw_only=True)
class Response:
    """One respondent's answers to one version of one survey.

    The context of the interaction (touchpoint, store, agent...) is frozen into
    the response when it is captured, so later changes to the interaction never
    rewrite history.

    Args:
        id: The response's id.
        survey_id: The survey answered.
        survey_version: The version answered.
        answers: Answers keyed by question id.
        status: Partial or complete.
        respondent: Who answered: a customer, someone anonymous, or an agent.
        channel: The channel the answers came in on.
        idempotency_key: The key that makes submitting it again harmless.
        started_at: When the first answer arrived.
        updated_at: When the latest answer arrived.
        completed_at: When it was completed; set exactly when complete.
        customer_id: The customer, for customer and agent-reported responses.
        agent_id: The reporting agent; required for agent-reported responses.
        interaction_id: The interaction asked about, if any.
        invitation_id: The invitation answered, if any.
        locale: The language the survey was shown in.
        context: The interaction's dimensions and attributes, frozen at capture.

    Raises:
        ValidationError: Listing every problem, including respondent fields
            that do not fit the respondent kind.

    .. versionadded:: 0.1.0
    """

    id: str
    survey_id: str
    survey_version: int
    answers: FrozenDict[str, AnswerValue] = attrs.field(converter=_answers)
    status: ResponseStatus = attrs.field(converter=_status)
    respondent: RespondentKind = attrs.field(converter=_respondent)
    channel: str
    idempotency_key: str
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    interaction_id: str | None = None
    invitation_id: str | None = None
    locale: str = "en"
    context: FrozenDict[str, Scalar] = attrs.field(factory=FrozenDict, converter=frozen_scalars)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.text("id", self.id, single_line=True)
        checks.identifier("survey_id", self.survey_id)
        if checks.is_a("survey_version", self.survey_version, int, "a whole number") and (
            self.survey_version < 1
        ):
            checks.add("survey_version", f"{self.survey_version} is not 1 or more")
        self._check_answers(checks)
        checks.member("status", self.status, ResponseStatus, "a response status")
        checks.member("respondent", self.respondent, RespondentKind, "a respondent kind")
        checks.identifier("channel", self.channel)
        checks.text(
            "idempotency_key", self.idempotency_key, single_line=True, max_length=MAX_KEY_LENGTH
        )
        times_ok = all(
            [
                checks.aware("started_at", self.started_at),
                checks.aware("updated_at", self.updated_at),
            ]
        )
        if times_ok and self.updated_at < self.started_at:
            checks.add("updated_at", f"{self.updated_at.isoformat()} is before started_at")
        if self.status is ResponseStatus.COMPLETE:
            if self.completed_at is None:
                checks.add(
                    "completed_at", "is missing (a complete response says when it was completed)"
                )
            elif (
                checks.aware("completed_at", self.completed_at)
                and times_ok
                and not (self.started_at <= self.completed_at <= self.updated_at)
            ):
                checks.add(
                    "completed_at",
                    f"{self.completed_at.isoformat()} is not between started_at and updated_at",
                )
        elif self.completed_at is not None:
            checks.add("completed_at", "is set, but the response is partial")
        check_respondent(checks, self.respondent, self.customer_id, self.agent_id)
        for name in ("interaction_id", "invitation_id"):
            value = getattr(self, name)
            if value is not None:
                checks.text(name, value, single_line=True)
        checks.locale("locale", self.locale)
        check_scalars(checks, "context", self.context)
        checks.raise_if_any(f"Response {self.id!r}")

    @classmethod
    def _from_checked(cls, **fields: Any) -> Response:  # noqa: ANN401 - the fields' own types
        """A response from parts already checked and converted, without checking them again.

        For the store's planner, which builds a new response from a checked
        :class:`~cxcore.ports.store.Submission` (same keys, kinds and times)
        answering a survey whose checks it passed: every check of
        :meth:`__attrs_post_init__` holds by construction, and running them
        again cost a fifth of planning an answer. Fields not given take their
        defaults.
        """
        response = object.__new__(cls)
        for name, default in _DEFAULTS:
            object.__setattr__(response, name, fields[name] if name in fields else default())
        return response

    def _check_answers(self, checks: Checks) -> None:
        if not checks.is_a("answers", self.answers, Mapping, "a mapping of question id to answer"):
            return
        for qid, value in self.answers.items():
            if not checks.identifier(f"answers[{qid!r}]", qid):
                continue
            ok = (isinstance(value, int | str) and not isinstance(value, bool)) or (
                isinstance(value, tuple) and all(isinstance(v, str) for v in value)
            )
            if not ok:
                checks.add(
                    f"answers.{qid}", f"{value!r} is not a number, text or list of option ids"
                )

    @property
    def is_complete(self) -> bool:
        """Whether the respondent submitted the survey."""
        return self.status is ResponseStatus.COMPLETE

    @property
    def is_agent_reported(self) -> bool:
        """Whether an agent recorded these answers on a customer's behalf."""
        return self.respondent is RespondentKind.AGENT


def check_respondent(
    checks: Checks, respondent: object, customer_id: object, agent_id: object
) -> None:
    """Add to *checks* what is wrong with the respondent fields, given the respondent kind.

    A customer response names the customer and no agent; an anonymous one names
    neither; agent-reported feedback names the agent (and maybe the customer).
    :class:`Response` and :class:`~cxcore.Submission` both judge by it, so a
    submission the store would refuse is refused when it is built.
    """
    for name, value in (("customer_id", customer_id), ("agent_id", agent_id)):
        if value is not None:
            checks.text(name, value, single_line=True)
    match respondent:
        case RespondentKind.CUSTOMER:
            if customer_id is None:
                checks.add("customer_id", "is missing (a customer response names the customer)")
            if agent_id is not None:
                checks.add(
                    "agent_id",
                    "is set, but the customer answered themselves; use respondent 'agent'",
                )
        case RespondentKind.ANONYMOUS:
            for name, value in (("customer_id", customer_id), ("agent_id", agent_id)):
                if value is not None:
                    checks.add(name, "is set, but the respondent is anonymous")
        case RespondentKind.AGENT:
            if agent_id is None:
                checks.add("agent_id", "is missing (agent-reported feedback names the agent)")


def _default(attribute: attrs.Attribute[Any]) -> Callable[[], Any]:
    default: Any = attribute.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory  # type: ignore[no-any-return]
    return lambda: default


_DEFAULTS = tuple((a.name, _default(a)) for a in attrs.fields(Response))
