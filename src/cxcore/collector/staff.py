"""Pages for staff: recording agent-reported feedback, signing in and out.

Front-line staff sign in once with a staff key (an API key with the ``agent``
scope, issued with ``cxcore keys add``). The session is a signed cookie
(``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind https) holding only the
key's public id, checked against the store on every request, so revoking the
key ends every session. Every form carries a CSRF token derived from the
session, and the report form an idempotency nonce, so a double submit stores
one report.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cxcore.api_keys import check_api_key
from cxcore.collector._http import read_body
from cxcore.collector.context import Context
from cxcore.collector.security import csrf_token, first, same_token
from cxcore.collector.strings import words
from cxcore.errors import InboundError, Problem
from cxcore.intake import Accepted, Rejected
from cxcore.links import answers_from_fields
from cxcore.model.survey import AnswerValue
from cxcore.ports.channel import InboundRequest
from cxcore.ports.store import ApiKey, UnknownSurveyError

__all__ = ["COOKIE", "SESSION_SECONDS", "StaffPages"]

COOKIE = "cx_staff"
"""The session cookie's name."""

SESSION_SECONDS = 12 * 3600
"""How long a staff session lasts: one shift."""

_CONTEXT_FIELDS = ("store", "touchpoint")

_SAME_ORIGIN = {"Referrer-Policy": "same-origin"}
"""Staff pages' forms post to the collector itself; with ``no-referrer`` (the survey
pages' policy, whose URLs carry tokens) browsers would send ``Origin: null``, which
the cross-site check cannot tell from a sandboxed frame of another site."""


class StaffPages:
    """``/agent`` (the report form), ``/staff/session`` (sign in) and ``/staff/sign-out``.

    Args:
        context: The collector's parts.
        surveys: The surveys staff may report on; the form shows the first,
            or the one named by ``?survey=``.
    """

    def __init__(self, context: Context, surveys: Sequence[str]) -> None:
        self.context = context
        self.surveys = tuple(surveys)
        self.signer = TimestampSigner(context.secret, salt="cxcore.staff-session")
        public = urlsplit(context.public_url)
        self.origin = f"{public.scheme}://{public.netloc}"

    # -- sessions -------------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        """``POST /staff/session``: sign in with a staff key."""
        context = self.context
        limited = context.limited(request, "../static") or self._cross_site(request)
        if limited is not None:
            return limited
        fields = await self._fields(request)
        target, query = _next(first(fields, "next") or "agent")
        key = await check_api_key(context.store, first(fields, "key") or "", _scope(target))
        if key is None:
            failed = urlencode([*query, ("signin", "failed")])
            return RedirectResponse(f"{context.base_path}/{target}?{failed}", status_code=303)
        back = f"?{urlencode(query)}" if query else ""
        response = RedirectResponse(f"{context.base_path}/{target}{back}", status_code=303)
        response.set_cookie(
            COOKIE,
            self.signer.sign(key.id).decode(),
            max_age=SESSION_SECONDS,
            path=context.base_path or "/",
            secure=context.secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        """``POST /staff/sign-out``: end the session (with the form's CSRF token)."""
        context = self.context
        refused = self._cross_site(request)
        if refused is not None:
            return refused
        fields = await self._fields(request)
        session = request.cookies.get(COOKIE, "")
        if session and not same_token(first(fields, "csrf"), csrf_token(context.secret, session)):
            return HTMLResponse(context.pages.message("en", "invalid", static="../static"), 403)
        response = RedirectResponse(f"{context.base_path}/agent", status_code=303)
        response.delete_cookie(COOKIE, path=context.base_path or "/")
        return response

    async def staff_key(self, request: Request, scope: str) -> ApiKey | None:
        """The active key of the request's session, if it holds *scope*."""
        session = request.cookies.get(COOKIE)
        if not session:
            return None
        try:
            key_id = self.signer.unsign(session, max_age=SESSION_SECONDS).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        key = await self.context.store.api_key(key_id)
        if key is None or not key.active or scope not in key.scopes:
            return None
        return key

    def sign_in_page(self, request: Request, target: str) -> HTMLResponse:
        """The sign-in form, shown at ``/agent`` or ``/live`` to someone without a session.

        After signing in, the person comes back to the same page, with its query
        (the live scores' survey, metric and segmentation).
        """
        wrong = request.query_params.get("signin") == "failed"
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "signin"]
        back = f"{target}?{urlencode(kept)}" if kept else target
        return self._sign_in(wrong=wrong, target=target, back=back, status=403 if wrong else 200)

    def _sign_in(
        self, *, wrong: bool, target: str, back: str | None = None, status: int = 200
    ) -> HTMLResponse:
        t = words("en")
        html = self.context.pages.render(
            "sign_in.html.j2",
            lang="en",
            title=t["agent_sign_in"],
            heading=t["live_title" if target == "live" else "agent_title"],
            static="static",
            t=t,
            wrong=wrong,
            next=back or target,
            referrer="same-origin",
        )
        return HTMLResponse(html, status_code=status, headers=_SAME_ORIGIN)

    # -- the report form ----------------------------------------------------------------

    async def form(self, request: Request) -> Response:
        """``GET`` and ``POST /agent``: the agent-reported feedback form."""
        context = self.context
        limited = context.limited(request, "static")
        if limited is not None:
            return limited
        key = await self.staff_key(request, "agent")
        if key is None:
            return self.sign_in_page(request, "agent")
        session = request.cookies.get(COOKIE, "")
        csrf = csrf_token(context.secret, session)
        if request.method == "GET":
            survey_id = request.query_params.get("survey") or (
                self.surveys[0] if self.surveys else ""
            )
            return await self._page(survey_id, csrf, {}, {})
        refused = self._cross_site(request)
        if refused is not None:
            return refused
        fields = await self._fields(request)
        if not same_token(first(fields, "csrf"), csrf):
            return HTMLResponse(context.pages.message("en", "invalid", static="static"), 403)
        survey_id = first(fields, "survey") or ""
        values = {
            name: (first(fields, name) or "").strip()
            for name in ("agent_id", "customer_id", *_CONTEXT_FIELDS)
        }
        try:
            answers = answers_from_fields(fields, drop_empty=True)
        except InboundError:
            answers = {}
        if survey_id not in self.surveys:
            return HTMLResponse(context.pages.message("en", "gone", static="static"), 404)
        if not values["agent_id"]:
            return await self._page(
                survey_id, csrf, values, answers,
                problems=[Problem("agent_id", "is missing")], status=422,
            )  # fmt: skip
        nonce = first(fields, "nonce") or secrets.token_hex(16)
        result = await context.intake.agent_report(
            survey_id,
            answers,
            agent_id=values["agent_id"],
            key=f"form:{key.id}:{nonce}",
            customer_id=values["customer_id"] or None,
            context={k: values[k] for k in _CONTEXT_FIELDS if values[k]},
        )
        if isinstance(result, Rejected):
            return await self._page(
                survey_id, csrf, values, answers, problems=result.problems or
                [Problem("", result.message)], status=422,
            )  # fmt: skip
        kept = {k: values[k] for k in ("agent_id", *_CONTEXT_FIELDS)}
        notice = words("en")["agent_saved"] if isinstance(result, Accepted) else None
        return await self._page(survey_id, csrf, kept, {}, notice=notice)

    async def _page(
        self,
        survey_id: str,
        csrf: str,
        values: Mapping[str, str],
        answers: Mapping[str, AnswerValue],
        *,
        problems: Sequence[Problem] = (),
        notice: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        context = self.context
        if survey_id not in self.surveys:
            return HTMLResponse(context.pages.message("en", "gone", static="static"), 404)
        try:
            survey = await context.store.survey(survey_id)
        except UnknownSurveyError:
            return HTMLResponse(context.pages.message("en", "gone", static="static"), 404)
        form: dict[str, Any] = context.pages.form(
            survey, locale="en", answers=answers, problems=problems
        )
        t = form["t"]
        for problem in problems:
            if problem.path == "agent_id":
                form["errors"].insert(
                    0, {"question": "agent_id", "anchor": "f-agent_id", "text": t["error_required"]}
                )
        html = context.pages.render(
            "staff.html.j2",
            title=t["agent_title"],
            static="static",
            csrf=csrf,
            nonce=secrets.token_hex(16),
            survey_id=survey.id,
            fields={
                name: values.get(name, "") for name in ("agent_id", "customer_id", *_CONTEXT_FIELDS)
            },
            notice=notice,
            referrer="same-origin",
            **form,
        )
        return HTMLResponse(html, status_code=status, headers=_SAME_ORIGIN)

    def _cross_site(self, request: Request) -> Response | None:
        """403 for a form posted from another site (its ``Origin`` says so), else ``None``.

        The session cookie is ``SameSite=Strict`` and forms carry CSRF tokens;
        this also stops another site from signing a staff browser in with a key
        of its own.
        """
        origin = request.headers.get("origin")
        if origin is None or origin == self.origin:
            return None
        return HTMLResponse(self.context.pages.message("en", "invalid", static="static"), 403)

    async def _fields(self, request: Request) -> dict[str, list[str]]:
        body = await read_body(request, self.context.max_body_bytes)
        return InboundRequest(
            method="POST", url=self.context.public_url, headers=dict(request.headers), body=body
        ).form()


def _next(wanted: str) -> tuple[str, list[tuple[str, str]]]:
    """Where to go after signing in: ``agent`` or ``live`` and its query, never anywhere else."""
    parts = urlsplit(wanted)
    target = parts.path if parts.path in ("agent", "live") and not parts.netloc else "agent"
    return target, parse_qsl(parts.query) if target == parts.path else []


def _scope(target: str) -> str:
    return "live" if target == "live" else "agent"
