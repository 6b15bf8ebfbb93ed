"""The kiosk: a touch-screen page for one device in one store, offline-first.

==================================  ============  ==============================================
route                               who           what
==================================  ============  ==============================================
``GET /kiosk/``                     the device    the page (a shell the service worker keeps)
``GET /kiosk/sw.js``                the device    the service worker
``GET /kiosk/api/config``           device key    the kiosk's settings, survey and words
``POST /kiosk/api/answers``         device key    up to 100 queued answers, a result per item
``POST /kiosk/api/heartbeat``       device key    alive: queue length, refused answers
``GET /kiosk/api/devices``          head office   every kiosk: alive, queue, last answer
==================================  ============  ==============================================

The device key is an API key with the scope ``kiosk``, issued with the kiosk
(``cxcore kiosk add``). Answers are anonymous (:meth:`~cxcore.intake.Intake.anonymous`),
or, in agent-assisted mode, agent-reported (:meth:`~cxcore.intake.Intake.agent_report`)
with the employee's id; both carry the kiosk's store and touchpoint. Each item
has the idempotency key the device made, so a retry stores nothing twice.
Requests are rate-limited per device, on top of the collector's limits.
"""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cxcore.collector._http import (
    JSONResponse,
    error_json,
    json_object,
    read_body,
    rejection_status,
)
from cxcore.collector.context import Context, Handler
from cxcore.collector.kiosk_words import kiosk_words
from cxcore.collector.security import RateLimiter
from cxcore.collector.staff import StaffPages
from cxcore.errors import Problem, count_problems
from cxcore.intake import Accepted, IntakeResult, Rejected
from cxcore.kiosks import KIOSK_SCOPE, device_json
from cxcore.model._checks import Checks
from cxcore.model.survey import (
    AnswerValue,
    Question,
    ScoredQuestion,
    Survey,
    TextQuestion,
)
from cxcore.ports.store import Kiosk, KioskHeartbeat, UnknownSurveyError
from cxcore.rendering import scale_view

__all__ = ["MAX_KIOSK_BATCH", "KioskLimits", "KioskRoutes", "kiosk_view"]

MAX_KIOSK_BATCH = 100
"""The most answers one request of a kiosk may carry."""

_ITEM_FIELDS = frozenset(
    {"key", "answers", "complete", "locale", "version", "at", "mode", "agent_id"}
)


@attrs.frozen(kw_only=True)
class KioskLimits:
    """How many requests one kiosk may make.

    A token bucket per device: *rate* requests a second on average (``None``:
    no limit), up to *burst* at once. A device flushing a day's queue sends
    :data:`MAX_KIOSK_BATCH` answers a request, so the default takes 3,000
    queued answers at once and 200 a second after.

    .. versionadded:: 0.1.0
    """

    rate: float | None = 2.0
    burst: int = 30

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        rate: object = self.rate
        if rate is not None and not (
            isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0
        ):
            checks.add("rate", f"{self.rate!r} is not a number of requests per second above 0")
        burst: object = self.burst
        if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
            checks.add("burst", f"{self.burst!r} is not a whole number of requests, 1 or more")
        checks.raise_if_any("KioskLimits")


def _text(value: Any, locales: Sequence[str], fallback: str) -> dict[str, str]:  # noqa: ANN401
    return {locale: value.get(locale, fallback) for locale in locales}


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _question(q: Question, locales: Sequence[str], fallback: str) -> dict[str, Any] | None:
    view: dict[str, Any] = {
        "id": q.id,
        "kind": q.kind,
        "required": q.required,
        "text": _text(q.text, locales, fallback),
        "show_if": [
            {"question": c.question, "op": c.op.value, "value": _plain(c.value)} for c in q.show_if
        ],
    }
    if isinstance(q, ScoredQuestion):
        scales = {locale: scale_view(q, locale, fallback) for locale in locales}
        first = scales[locales[0]]
        view["display"] = first.display
        view["levels"] = [
            {
                "value": level.value,
                "glyph": level.glyph,
                "label": {
                    locale: scales[locale].levels[i].label or str(level.value) for locale in locales
                },
            }
            for i, level in enumerate(first.levels)
        ]
        view["low_label"] = {locale: scales[locale].low_label for locale in locales}
        view["high_label"] = {locale: scales[locale].high_label for locale in locales}
        return view
    if isinstance(q, TextQuestion):
        view["max_length"] = q.max_length
        return view
    if not q.multiple:  # a ChoiceQuestion, the last kind
        view["options"] = [
            {"id": o.id, "text": _text(o.text, locales, fallback)} for o in q.options
        ]
        return view
    return None  # a kiosk shows one tap per question: multiple choice is left out


def kiosk_view(kiosk: Kiosk, survey: Survey) -> dict[str, Any]:
    """What a kiosk needs to show *survey*, in each of its languages: its settings as JSON.

    Scored questions become big targets, single choices a column of buttons,
    and a text question the optional comment. Multiple-choice questions are
    left out (a kiosk asks one tap per question).

    .. versionadded:: 0.1.0
    """
    locales = list(kiosk.locales)
    fallback = survey.default_locale
    questions = [v for q in survey.questions if (v := _question(q, locales, fallback)) is not None]
    return {
        "kiosk": {
            "id": kiosk.id,
            "name": kiosk.name,
            "store": kiosk.store,
            "touchpoint": kiosk.touchpoint,
            "locales": locales,
            "agent_mode": kiosk.agent_mode,
        },
        "survey": {
            "id": survey.id,
            "version": survey.version,
            "title": _text(survey.title, locales, fallback),
            "questions": questions,
        },
        "words": {locale: dict(kiosk_words(locale)) for locale in locales},
    }


class KioskRoutes:
    """The kiosk's routes: its page, service worker, settings, answers and heartbeat.

    Args:
        context: The collector's parts.
        staff: The staff pages, whose sessions may see ``/kiosk/api/devices``.
        limits: Requests per device.
    """

    def __init__(
        self, context: Context, staff: StaffPages, limits: KioskLimits | None = None
    ) -> None:
        self.context = context
        self.staff = staff
        limits = limits or KioskLimits()
        self.by_device = RateLimiter(limits.rate, limits.burst, clock=context.clock)
        files = importlib.resources.files("cxcore.collector") / "static" / "kiosk"
        self._worker = (files / "sw.js").read_text(encoding="utf-8")

    def routes(self) -> list[tuple[str, Handler, list[str], str]]:
        """Each route's path, handler, methods, and the path to the static files from it."""
        return [
            ("/kiosk", self.redirect, ["GET", "HEAD"], "static"),
            ("/kiosk/", self.page, ["GET", "HEAD"], "../static"),
            ("/kiosk/sw.js", self.worker, ["GET"], "../static"),
            ("/kiosk/api/config", self.config, ["GET"], "../../static"),
            ("/kiosk/api/answers", self.answers, ["POST"], "../../static"),
            ("/kiosk/api/heartbeat", self.heartbeat, ["POST"], "../../static"),
            ("/kiosk/api/devices", self.devices, ["GET"], "../../static"),
        ]

    # -- the page --------------------------------------------------------------------

    async def redirect(self, request: Request) -> Response:
        """``GET /kiosk``: to ``/kiosk/``, the service worker's scope."""
        del request
        return RedirectResponse(f"{self.context.base_path}/kiosk/", status_code=308)

    async def page(self, request: Request) -> Response:
        """``GET /kiosk/``: the shell; the device's settings come from ``/kiosk/api/config``."""
        limited = self.context.limited(request, "../static")
        if limited is not None:
            return limited
        t = kiosk_words("en")
        html = self.context.pages.render(
            "kiosk.html.j2", lang="en", title=t["title"], static="../static", t=t
        )
        # The shell holds nothing of one device or visitor: the service worker may
        # keep it, and the browser must check it each time it is online.
        return Response(
            html,
            media_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-cache", "Referrer-Policy": "same-origin"},
        )

    async def worker(self, request: Request) -> Response:
        """``GET /kiosk/sw.js``: the service worker that keeps the shell for offline use."""
        del request
        return Response(
            self._worker,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    # -- the device's API ----------------------------------------------------------------

    async def _device(self, request: Request) -> Kiosk | Response:
        """The request's kiosk, if its device key is good and the device within its rate."""
        context = self.context
        key = await context.api_key(request, KIOSK_SCOPE)
        if isinstance(key, Response):
            return key
        kiosk = await context.store.kiosk_by_key(key.id)
        if kiosk is None or not kiosk.active:
            return error_json(403, "forbidden", f"the key {key.id!r} is not a kiosk's key")
        wait = self.by_device.check(kiosk.id)
        if wait:
            return error_json(
                429,
                "rate_limited",
                f"too many requests from kiosk {kiosk.id!r}; retry after {wait} s",
                headers={"Retry-After": str(wait)},
            )
        return kiosk

    async def config(self, request: Request) -> Response:
        """``GET /kiosk/api/config``: the kiosk's settings, its survey and its words."""
        kiosk = await self._device(request)
        if isinstance(kiosk, Response):
            return kiosk
        try:
            survey = await self.context.store.survey(kiosk.survey_id)
        except UnknownSurveyError as exc:
            return error_json(404, "unknown_survey", f"kiosk {kiosk.id!r}: {exc}")
        return JSONResponse(kiosk_view(kiosk, survey))

    async def answers(self, request: Request) -> Response:
        """``POST /kiosk/api/answers``: ``{"items": [...], "queue": n}``, a result per item.

        Each item is ``{"key", "answers", "complete", "locale", "version", "at"}``,
        and, in agent-assisted mode, ``"mode": "agent"`` with ``"agent_id"``.
        Each result has ``status``: 200 (stored, or stored before) or the 4xx an
        item is refused with, which the device takes out of its queue.
        """
        kiosk = await self._device(request)
        if isinstance(kiosk, Response):
            return kiosk
        body = json_object(await read_body(request, self.context.max_body_bytes))
        if isinstance(body, str):
            return error_json(400, "bad_request", body)
        items = body.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_KIOSK_BATCH:
            return error_json(
                422, "invalid_request", f"items: expected a list of 1 to {MAX_KIOSK_BATCH} answers"
            )
        queue = body.get("queue", 0)
        if not isinstance(queue, int) or isinstance(queue, bool) or queue < 0:
            return error_json(
                422, "invalid_request", f"queue: {queue!r} is not a whole number, 0 or more"
            )
        results = await asyncio.gather(
            *(self._item(kiosk, item, i) for i, item in enumerate(items))
        )
        now = self.context.clock.now()
        given = [at for r in results if (at := r.pop("_at", None)) is not None]
        await self.context.store.kiosk_heartbeat(
            kiosk.id,
            KioskHeartbeat(at=now, queue_length=queue, last_answer_at=max(given, default=None)),
        )
        refused = sum(1 for r in results if r["status"] != 200)
        return JSONResponse({"ok": refused == 0, "refused": refused, "results": results})

    async def _item(self, kiosk: Kiosk, item: object, index: int) -> dict[str, Any]:
        path = f"items[{index}]"
        if not isinstance(item, dict):
            return _refused(None, 422, [Problem(path, f"{type(item).__name__} is not an object")])
        checks = Checks()
        for name in sorted(set(item) - _ITEM_FIELDS):
            checks.add(
                f"{path}.{name}", f"is not a field (expected: {', '.join(sorted(_ITEM_FIELDS))})"
            )
        key = item.get("key")
        if not isinstance(key, str) or not 8 <= len(key) <= 100 or not key.isprintable():
            checks.add(f"{path}.key", f"{key!r} is not an idempotency key (8 to 100 characters)")
            key = None
        answers = _answers(checks, item.get("answers"), path)
        complete = item.get("complete", True)
        if not isinstance(complete, bool):
            checks.add(f"{path}.complete", f"{complete!r} is not true or false")
        locale = item.get("locale", kiosk.locales[0])
        if locale not in kiosk.locales:
            checks.add(
                f"{path}.locale", f"{locale!r} is not one of the kiosk's {list(kiosk.locales)}"
            )
        version = item.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            checks.add(f"{path}.version", f"{version!r} is not a whole number")
        at = _time(checks, item.get("at"), f"{path}.at", self.context.clock.now())
        mode, agent_id = _mode(checks, kiosk, item, path)
        if checks.problems:
            return _refused(key, 422, checks.problems)
        assert key is not None  # noqa: S101 - checked above
        context = {"store": kiosk.store, "touchpoint": kiosk.touchpoint, "kiosk": kiosk.id}
        given: dict[str, Any] = {
            "key": f"{kiosk.id}:{key}",
            "channel": "kiosk",
            "complete": complete,
            "version": version,
            "context": context,
            "locale": locale,
        }
        result: IntakeResult
        if mode == "agent":
            result = await self.context.intake.agent_report(
                kiosk.survey_id, answers, agent_id=agent_id, **given
            )
        else:
            result = await self.context.intake.anonymous(kiosk.survey_id, answers, **given)
        return _result(key, result, at)

    async def heartbeat(self, request: Request) -> Response:
        """``POST /kiosk/api/heartbeat``: ``{"queue": n, "dropped": n, "last_answer_at": iso}``."""
        kiosk = await self._device(request)
        if isinstance(kiosk, Response):
            return kiosk
        body = json_object(await read_body(request, self.context.max_body_bytes))
        if isinstance(body, str):
            return error_json(400, "bad_request", body)
        checks = Checks()
        for name in sorted(set(body) - {"queue", "dropped", "last_answer_at"}):
            checks.add(name, "is not a field (expected: dropped, last_answer_at, queue)")
        now = self.context.clock.now()
        last = _time(checks, body.get("last_answer_at"), "last_answer_at", now)
        counts = {}
        for name in ("queue", "dropped"):
            value = body.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**7:
                checks.add(name, f"{value!r} is not a whole number from 0 to 10,000,000")
                value = 0
            counts[name] = value
        if checks.problems:
            problems = checks.problems
            return error_json(
                422,
                "invalid_request",
                f"{count_problems(len(problems))}: " + "; ".join(map(str, problems)),
                problems=problems,
            )
        beat = KioskHeartbeat(
            at=now, queue_length=counts["queue"], dropped=counts["dropped"], last_answer_at=last
        )
        stored = await self.context.store.kiosk_heartbeat(kiosk.id, beat)
        return JSONResponse({"ok": True, "kiosk": device_json(stored, now)})

    # -- head office ---------------------------------------------------------------------

    async def devices(self, request: Request) -> Response:
        """``GET /kiosk/api/devices``: every kiosk, alive or not (staff session or ``live`` key)."""
        if await self.staff.staff_key(request, "live") is None:
            key = await self.context.api_key(request, "live")
            if isinstance(key, Response):
                return key
        now = self.context.clock.now()
        kiosks = await self.context.store.kiosks()
        return JSONResponse(
            {"at": now.isoformat(), "kiosks": [device_json(k, now) for k in kiosks]}
        )


def _mode(checks: Checks, kiosk: Kiosk, item: Mapping[str, Any], path: str) -> tuple[str, str]:
    """Whose answer an item is: ``("self", "")``, or ``("agent", <staff id>)``."""
    mode = item.get("mode", "self")
    agent_id = item.get("agent_id")
    if mode not in ("self", "agent"):
        checks.add(f"{path}.mode", f"{mode!r} is not 'self' or 'agent'")
    elif mode == "agent":
        if not kiosk.agent_mode:
            checks.add(f"{path}.mode", f"kiosk {kiosk.id!r} does not take agent reports")
        if not isinstance(agent_id, str) or not agent_id.strip() or len(agent_id) > 64:
            checks.add(f"{path}.agent_id", f"{agent_id!r} is not a staff id (1 to 64 characters)")
        else:
            return mode, agent_id.strip()
    elif agent_id is not None:
        checks.add(f"{path}.agent_id", "is only for agent reports (mode 'agent')")
    return str(mode), ""


def _answers(checks: Checks, value: object, path: str) -> dict[str, AnswerValue]:
    if not isinstance(value, dict) or not value:
        checks.add(f"{path}.answers", f"{value!r} is not an object of question id to answer")
        return {}
    result: dict[str, AnswerValue] = {}
    for qid, answer in value.items():
        if isinstance(answer, int | str) and not isinstance(answer, bool):
            result[qid] = answer
        else:
            checks.add(f"{path}.answers.{qid}", f"{answer!r} is not a number or text")
    return result


def _time(checks: Checks, value: object, path: str, now: datetime) -> datetime | None:
    """An ISO time the device gave, no later than *now* (a device's clock may run ahead)."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        checks.add(path, f"{value!r} is not an ISO 8601 time with its offset")
        return None
    return min(at, now)


def _refused(key: str | None, status: int, problems: Sequence[Problem]) -> dict[str, Any]:
    return {
        "key": key,
        "status": status,
        "reason": "invalid_request",
        "message": "; ".join(map(str, problems)),
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }


def _result(key: str, result: IntakeResult, at: datetime | None) -> dict[str, Any]:
    match result:
        case Accepted():
            return {
                "key": key,
                "status": 200,
                "outcome": result.outcome.value,
                "response_id": result.response.id,
                "_at": at,
            }
        case Rejected():
            body: dict[str, Any] = {
                "key": key,
                "status": rejection_status(result.reason),
                "reason": result.reason.value,
                "message": result.message,
            }
            if result.problems:
                body["problems"] = [{"path": p.path, "message": p.message} for p in result.problems]
            return body
    msg = f"not an answer's result: {result!r}"
    raise TypeError(msg)
