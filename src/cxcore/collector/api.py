"""The collector's JSON APIs, each behind an API key with its scope.

=================================  ==============  ================================================
route                              scope           what
=================================  ==============  ================================================
``POST /api/answers``              ``answers``     answers from an app's own form: to a token, or
                                                   anonymous (a kiosk) with the device's key
``POST /api/agent-reports``        ``agent``       what a customer told a front-line employee
``POST /api/interactions``         ``interactions`` an interaction (a sale, a delivery, a closed
                                                   ticket): through the rules into the outbox
``POST /api/interactions/batch``   ``interactions`` up to 1,000 of them, with a result per item
=================================  ==============  ================================================

Bad input gets a 4xx JSON error naming every problem, and writes nothing.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cxcore.collector._http import (
    JSONResponse,
    error_json,
    json_object,
    read_body,
    results_response,
)
from cxcore.collector.context import Context
from cxcore.collector.fatigue import FatigueFollower
from cxcore.definitions import structure
from cxcore.dispatch.outbox import Outbox, Scheduled, ScheduleRequest
from cxcore.distribution.decide import Decision, Outcome, decide, record, skip_refused
from cxcore.distribution.fatigue import FatigueState
from cxcore.distribution.rules import RuleSet
from cxcore.errors import CxError, DefinitionError, Problem, count_problems
from cxcore.intake import IntakeResult
from cxcore.model._checks import Checks
from cxcore.model.customer import Customer
from cxcore.model.interaction import Interaction
from cxcore.model.survey import AnswerValue
from cxcore.ports.store import InviteRefusedError

__all__ = ["MAX_BATCH", "AgentReports", "Answers", "Interactions"]

MAX_BATCH = 1000
"""The most interactions one batch request may carry."""

_ANSWER_FIELDS = frozenset(
    {"token", "survey", "version", "answers", "complete", "key", "context", "locale", "channel",
     "interaction_id"}
)  # fmt: skip
_ITEM_FIELDS = frozenset({"interaction", "customer", "name"})
_AGENT_FIELDS = frozenset(
    {"survey", "version", "answers", "complete", "key", "context", "locale", "agent_id",
     "customer_id", "interaction_id"}
)  # fmt: skip


def _unknown(body: Mapping[str, Any], known: frozenset[str]) -> list[Problem]:
    return [
        Problem(name, f"is not a field (expected: {', '.join(sorted(known))})")
        for name in sorted(set(body) - known)
    ]


def _answers(checks: Checks, body: Mapping[str, Any]) -> dict[str, AnswerValue]:
    answers = body.get("answers")
    if not isinstance(answers, dict) or not answers:
        checks.add("answers", f"{answers!r} is not an object of question id to answer")
        return {}
    result: dict[str, AnswerValue] = {}
    for qid, value in answers.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            result[qid] = tuple(value)
        elif isinstance(value, int | str) and not isinstance(value, bool):
            result[qid] = value
        else:
            checks.add(f"answers.{qid}", f"{value!r} is not a number, text or list of option ids")
    return result


def _optional(checks: Checks, body: Mapping[str, Any], name: str, kind: type, what: str) -> Any:  # noqa: ANN401
    value = body.get(name)
    if value is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    ):
        checks.add(name, f"{value!r} is not {what}")
        return None
    return value


def _key(
    request: Request, body: Mapping[str, Any], checks: Checks, *, required: bool
) -> str | None:
    key = request.headers.get("idempotency-key") or body.get("key")
    if key is None:
        if required:
            checks.add("key", "is missing (an idempotency key, or the Idempotency-Key header)")
        return None
    if not isinstance(key, str) or not key.strip():
        checks.add("key", f"{key!r} is not a non-empty string")
        return None
    return key


def _unsolicited(
    checks: Checks, body: Mapping[str, Any], *, complete: bool | None, locale: str | None
) -> dict[str, Any]:
    """What answers without a token take besides their survey: Intake's keyword arguments."""
    return {
        "complete": True if complete is None else complete,
        "version": _optional(checks, body, "version", int, "a whole number"),
        "context": _optional(checks, body, "context", dict, "an object"),
        "locale": locale or "en",
        "interaction_id": _optional(checks, body, "interaction_id", str, "an interaction id"),
    }


async def _body(context: Context, request: Request) -> dict[str, Any] | Response:
    body = json_object(await read_body(request, context.max_body_bytes))
    if isinstance(body, str):
        return error_json(400, "bad_request", body)
    return body


def _problems(problems: list[Problem]) -> Response:
    return error_json(
        422,
        "invalid_request",
        f"{count_problems(len(problems))}: " + "; ".join(map(str, problems)),
        problems=problems,
    )


class Answers:
    """``POST /api/answers``: answers from an app's own form, a widget or a kiosk.

    With ``token``, they answer that invitation; without, they are anonymous
    answers to ``survey`` (a kiosk), and need an idempotency ``key``.
    """

    def __init__(self, context: Context) -> None:
        self.context = context

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        context = self.context
        key = await context.api_key(request, "answers")
        if isinstance(key, Response):
            return key
        body = await _body(context, request)
        if isinstance(body, Response):
            return body
        checks = Checks()
        checks.problems.extend(_unknown(body, _ANSWER_FIELDS))
        answers = _answers(checks, body)
        token = _optional(checks, body, "token", str, "a token")
        complete = _optional(checks, body, "complete", bool, "true or false")
        locale = _optional(checks, body, "locale", str, "a locale")
        idempotency = _key(request, body, checks, required=token is None)
        result: IntakeResult
        if token is not None:
            if checks.problems:
                return _problems(checks.problems)
            result = await context.intake.submit(
                token,
                answers,
                complete=True if complete is None else complete,
                channel="api",
                key=idempotency,
                locale=locale,
            )
            return results_response([result])
        survey = _optional(checks, body, "survey", str, "a survey id")
        if survey is None:
            checks.add("survey", "is missing (answers without a token name their survey)")
        channel = _optional(checks, body, "channel", str, "a channel name") or "api"
        given = _unsolicited(checks, body, complete=complete, locale=locale)
        if checks.problems:
            return _problems(checks.problems)
        assert survey is not None  # noqa: S101 - checked above
        assert idempotency is not None  # noqa: S101
        result = await context.intake.anonymous(
            survey, answers, channel=channel, key=idempotency, **given
        )
        return results_response([result])


class AgentReports:
    """``POST /api/agent-reports``: what a customer told a front-line employee.

    Only the surveys staff may report on (the collector's ``agent_surveys``)
    are accepted, as on the staff form.
    """

    def __init__(self, context: Context, surveys: Sequence[str]) -> None:
        self.context = context
        self.surveys = tuple(surveys)

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        context = self.context
        key = await context.api_key(request, "agent")
        if isinstance(key, Response):
            return key
        body = await _body(context, request)
        if isinstance(body, Response):
            return body
        checks = Checks()
        checks.problems.extend(_unknown(body, _AGENT_FIELDS))
        answers = _answers(checks, body)
        survey = _optional(checks, body, "survey", str, "a survey id")
        if survey is None:
            checks.add("survey", "is missing")
        elif survey not in self.surveys:
            allowed = ", ".join(self.surveys) or "none: set agent_surveys"
            checks.add("survey", f"{survey!r} is not a survey staff report on ({allowed})")
        agent_id = _optional(checks, body, "agent_id", str, "a staff id")
        if agent_id is None:
            checks.add("agent_id", "is missing (agent-reported feedback names the agent)")
        idempotency = _key(request, body, checks, required=True)
        customer = _optional(checks, body, "customer_id", str, "a customer id")
        complete = _optional(checks, body, "complete", bool, "true or false")
        locale = _optional(checks, body, "locale", str, "a locale")
        given = _unsolicited(checks, body, complete=complete, locale=locale)
        if checks.problems:
            return _problems(checks.problems)
        assert survey is not None  # noqa: S101 - checked above
        assert agent_id is not None  # noqa: S101
        assert idempotency is not None  # noqa: S101
        result = await context.intake.agent_report(
            survey, answers, agent_id=agent_id, key=idempotency, customer_id=customer, **given
        )
        return results_response([result])


class Interactions:
    """``POST /api/interactions`` and ``/api/interactions/batch``: interactions into the outbox.

    Each item is ``{"interaction": {...}, "customer": {...}, "name": "..."}``
    (``customer`` and ``name`` optional). The rules decide (eligibility,
    fatigue, quiet hours, sampling, channel); an invitation goes into the
    outbox, where the dispatcher finds it. A batch is decided item by item, in
    order, then its invitations are written at once. Who was asked when is
    remembered in this process (a :class:`~cxcore.collector.fatigue.FatigueFollower`
    shared with the widget), read from the store's recent invitations at the
    first request and topped up from them every second, and recorded as each
    decision is made, before its invitation is stored: a failed write leaves a
    person counted as asked, never asked twice.
    """

    def __init__(
        self,
        context: Context,
        rules: RuleSet,
        outbox: Outbox,
        *,
        fatigue: FatigueFollower | None = None,
    ) -> None:
        self.context = context
        self.rules = rules
        self.outbox = outbox
        self.fatigue = fatigue or FatigueFollower(context.store, rules, context.clock)
        self._recent: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    async def one(self, request: Request) -> Response:
        """``POST /api/interactions``."""
        key = await self.context.api_key(request, "interactions")
        if isinstance(key, Response):
            return key
        body = await _body(self.context, request)
        if isinstance(body, Response):
            return body
        [result] = await self._results([body], single=True)
        status = 200 if result.get("outcome") != "invalid" else 422
        return JSONResponse(result, status_code=status)

    async def batch(self, request: Request) -> Response:
        """``POST /api/interactions/batch``: ``{"items": [...]}``, a result per item, in order.

        An item whose interaction id came earlier in the batch gets that
        item's result: one interaction, one decision.
        """
        key = await self.context.api_key(request, "interactions")
        if isinstance(key, Response):
            return key
        body = await _body(self.context, request)
        if isinstance(body, Response):
            return body
        items = body.get("items")
        if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
            return error_json(
                422,
                "invalid_request",
                f"items: expected a list of 1 to {MAX_BATCH} interactions",
            )
        results = await self._results(items, single=False)
        failed = sum(1 for r in results if r.get("outcome") in ("invalid", "failed"))
        return JSONResponse({"ok": failed == 0, "failed": failed, "results": results})

    async def _results(self, items: Sequence[object], *, single: bool) -> list[dict[str, Any]]:
        """Each item's result, in order: decided in order, then its invitations written at once."""
        state = await self.fatigue.state()
        results: list[dict[str, Any] | None] = [None] * len(items)
        requests: list[ScheduleRequest] = []
        owners: list[int] = []
        first: dict[str, int] = {}
        copies: list[tuple[int, int]] = []
        recent = self._recent
        for n, item in enumerate(items):
            path = "" if single else f"items[{n}]"
            parsed = self._parse(item, path)
            if isinstance(parsed, dict):
                results[n] = parsed
                continue
            interaction, customer, name = parsed
            iid = interaction.id
            earlier = first.get(iid)
            if earlier is not None:
                copies.append((n, earlier))
                continue
            remembered = recent.get(iid)
            if remembered is not None:
                results[n] = remembered
                continue
            try:
                decision = decide(self.rules, interaction, customer, state, self.context.clock)
            except (CxError, ValueError) as exc:
                results[n] = _invalid([Problem(path, str(exc))])
                continue
            first[iid] = n
            if decision.outcome is not Outcome.INVITE:
                results[n] = self._remember(iid, _skipped(decision))
                continue
            # Recorded now, before the invitation is stored: a failed write leaves the
            # person counted as asked, never asked twice.
            record(state, decision)
            requests.append(
                ScheduleRequest(decision, customer=customer, interaction=interaction, name=name)
            )
            owners.append(n)
        if requests:
            # Written all at once, so that the store commits them together.
            scheduled = await self.outbox.schedule_many(requests)
            for n, request, outcome in zip(owners, requests, scheduled, strict=True):
                if isinstance(outcome, InviteRefusedError):  # by another process, meanwhile
                    results[n] = self._invited_meanwhile(request, outcome, state)
                else:
                    results[n] = self._invited(request, outcome)
        for n, earlier in copies:
            results[n] = results[earlier]
        return results  # type: ignore[return-value]  # every item has its result by now

    def _parse(
        self, body: object, path: str
    ) -> dict[str, Any] | tuple[Interaction, Customer | None, str | None]:
        """The interaction, customer and name of one item; or the item's problems."""
        prefix = f"{path}." if path else ""
        if not isinstance(body, dict):
            return _invalid([Problem(path, f"{type(body).__name__} is not an object")])
        problems = (
            []
            if body.keys() <= _ITEM_FIELDS
            else [p.under(path) for p in _unknown(body, _ITEM_FIELDS)]
        )
        interaction: Interaction | None = None
        customer: Customer | None = None
        try:
            interaction = structure(
                body.get("interaction"), Interaction, path=f"{prefix}interaction"
            )
        except DefinitionError as exc:
            problems.extend(exc.problems)
        if body.get("customer") is not None:
            try:
                customer = structure(body["customer"], Customer, path=f"{prefix}customer")
            except DefinitionError as exc:
                problems.extend(exc.problems)
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            problems.append(Problem(f"{prefix}name", f"{name!r} is not text"))
        if problems or interaction is None:
            return _invalid(problems)
        return interaction, customer, name

    def _invited(self, request: ScheduleRequest, outcome: Scheduled | CxError) -> dict[str, Any]:
        """The result of an invitation the outbox stored, or failed to."""
        if not isinstance(outcome, Scheduled):
            return {"outcome": "failed", "message": str(outcome)}
        decision = request.decision
        assert decision.due_at is not None  # noqa: S101 - an invitation has a due time
        assert request.interaction is not None  # noqa: S101 - every request has one here
        invitation = outcome.invitation
        return self._remember(
            request.interaction.id,
            {
                "outcome": "invite",
                "invitation_id": invitation.id,
                "channel": invitation.channel,
                "survey": invitation.survey_id,
                "due_at": decision.due_at.isoformat(),
            },
        )

    def _invited_meanwhile(
        self, request: ScheduleRequest, refused: InviteRefusedError, state: FatigueState
    ) -> dict[str, Any]:
        """The skip of an invitation the store refused: another writer asked them meanwhile.

        What the rules would have said had this process read that invitation
        first; it is remembered in the state, for the next decisions.
        """
        skip = skip_refused(self.rules, request.decision, refused, state)
        assert request.interaction is not None  # noqa: S101 - every request has one here
        return self._remember(request.interaction.id, _skipped(skip))

    def _remember(self, interaction_id: str, result: dict[str, Any]) -> dict[str, Any]:
        """Keep what was decided, so that a client's retry gets the same answer."""
        self._recent[interaction_id] = result
        if len(self._recent) > 100_000:
            self._recent.popitem(last=False)
        return result


def _skipped(decision: Decision) -> dict[str, Any]:
    result: dict[str, Any] = {
        "outcome": "skip",
        "reason": decision.reason.value if decision.reason else None,
    }
    if decision.eligible_at is not None:
        result["eligible_at"] = decision.eligible_at.isoformat()
    return result


def _invalid(problems: list[Problem]) -> dict[str, Any]:
    return {
        "outcome": "invalid",
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }
