"""The routes of the collector's links: survey pages, one-click answers, unsubscribe, AMP forms.

The URL scheme is :mod:`cxcore.links`'s; every channel that sends a link uses
it, and these routes serve it through :class:`~cxcore.intake.Intake`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from cxcore.collector._http import JSONResponse, error_json, read_body, rejection_status, wants_html
from cxcore.collector.context import Context
from cxcore.collector.security import first
from cxcore.collector.strings import words
from cxcore.distribution.tokens import SHORT_CODE, TokenPurpose
from cxcore.errors import InboundError, Problem
from cxcore.ingest import merge_answers
from cxcore.intake import Accepted, Rejected, RejectReason, SurveyView
from cxcore.links import ONE_CLICK_BODY, SurveyLinks, answers_from_fields
from cxcore.model.survey import AnswerValue, Survey
from cxcore.ports.channel import InboundRequest

__all__ = ["AmpForm", "SurveyPage", "Unsubscribe", "allowed_sender"]

_STATIC = "../static"
"""The stylesheet's folder, relative to ``/s/<token>`` and ``/u/<token>``."""

_PAGE_OF: Mapping[RejectReason, str] = {
    RejectReason.EXPIRED: "expired",
    RejectReason.UNKNOWN_INVITATION: "gone",
    RejectReason.UNKNOWN_SURVEY: "gone",
    RejectReason.TOO_LARGE: "invalid",
    RejectReason.CONFLICT: "invalid",
}


def _refusal_page(context: Context, refused: Rejected) -> HTMLResponse:
    """The friendly page for a refusal, in the invitation's language when it is known."""
    locale = refused.invitation.locale if refused.invitation else "en"
    page = _PAGE_OF.get(refused.reason, "invalid")
    html = context.pages.message(locale, page, static=_STATIC)
    return HTMLResponse(html, status_code=rejection_status(refused.reason))


class SurveyPage:
    """``GET`` and ``POST /s/<token>``: the survey page, and one-click answers.

    A ``GET`` with ``q.<question>=<value>`` parameters (a one-click score in an
    email) records the answer first, then shows the page with the score saved
    and the remaining questions. A ``POST`` of the page's form submits it.
    """

    def __init__(self, context: Context) -> None:
        self.context = context

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        context = self.context
        limited = context.limited(request, _STATIC)
        if limited is not None:
            return limited
        token = request.path_params["token"]
        if request.method == "POST":
            return await self._post(request, token)
        try:
            answers = answers_from_fields(_query(request), drop_empty=False)
        except InboundError:
            answers = {}
        if answers and request.method == "GET":  # a HEAD (a link checker) never writes
            return await self._one_click(token, answers)
        view = await context.intake.view(token)
        if isinstance(view, Rejected):
            return _refusal_page(context, view)
        if view.complete:
            return self._done(view, "already")
        return self._page(view, token, dict(view.answers))

    async def short_link(self, request: Request) -> Response:
        """``GET /l/<code>``: a short survey link (an SMS's), sent on to the survey page.

        The code is the invitation's ``short_code``
        (:meth:`TokenService.short_code <cxcore.distribution.TokenService.short_code>`);
        the answer is a ``303`` to ``/s/<token>`` at the public URL, where the
        page, its expiry and its friendly refusals are as for the long link. A
        code that is not a stored invitation's gets the friendly "link not
        valid" page, with ``404``. Nothing is written.
        """
        context = self.context
        limited = context.limited(request, _STATIC)
        if limited is not None:
            return limited
        code = request.path_params["code"]
        invitation = (
            await context.store.invitation_by_short_code(code)
            if SHORT_CODE.fullmatch(code)
            else None
        )
        if invitation is None:
            html = context.pages.message("en", "invalid", static=_STATIC)
            return HTMLResponse(html, status_code=404)
        target = SurveyLinks(context.public_url).survey(invitation.token)
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    async def _one_click(self, token: str, answers: dict[str, AnswerValue]) -> Response:
        context = self.context
        result = await context.intake.submit(token, answers, complete=False)
        if isinstance(result, Rejected):
            if result.reason is not RejectReason.INVALID_ANSWERS or result.survey is None:
                return _refusal_page(context, result)
            view = await context.intake.view(token)
            if isinstance(view, Rejected):
                return _refusal_page(context, view)
            return self._page(view, token, dict(view.answers), problems=result, status=422)
        assert isinstance(result, Accepted)  # noqa: S101 - submit gives answers or a refusal
        assert result.invitation is not None  # noqa: S101 - a token's answers have one
        view = SurveyView(
            invitation=result.invitation, survey=result.survey, response=result.response
        )
        if result.complete:
            return self._done(view, "already" if result.outcome.value == "ignored" else "thanks")
        t = words(view.invitation.locale)
        notice = f"{t['recorded']} {t['more']}"
        return self._page(view, token, dict(result.response.answers), notice=notice)

    async def _post(self, request: Request, token: str) -> Response:
        context = self.context
        body = await read_body(request, context.max_body_bytes)
        fields = InboundRequest(
            method="POST", url=context.public_url, headers=dict(request.headers), body=body
        ).form()
        try:
            answers = answers_from_fields(fields, drop_empty=True)
        except InboundError:
            answers = {}
        view = await context.intake.view(token)
        if isinstance(view, Rejected):
            return _refusal_page(context, view)
        shown = set((first(fields, "shown") or "").split(","))
        merged = merge_answers(view.survey, view.answers, answers)
        # Answers may show questions the page did not: ask them before completing.
        revealed = [
            q for q in view.survey.visible(merged) if q.id not in merged and q.id not in shown
        ]
        problems = _problems(view.survey, merged, complete=not revealed)
        if problems:  # every problem at once, before anything is written
            refused = Rejected(
                reason=RejectReason.INVALID_ANSWERS, message="invalid", problems=tuple(problems)
            )
            return self._page(view, token, merged, problems=refused, status=422)
        result = await context.intake.submit(token, answers, complete=not revealed)
        if isinstance(result, Rejected):
            if result.reason is RejectReason.INVALID_ANSWERS:
                return self._page(view, token, merged, problems=result, status=422)
            return _refusal_page(context, result)
        assert isinstance(result, Accepted)  # noqa: S101 - submit gives answers
        after = SurveyView(invitation=view.invitation, survey=view.survey, response=result.response)
        if result.complete:
            return self._done(after, "already" if result.outcome.value == "ignored" else "thanks")
        return self._page(after, token, dict(result.response.answers))

    def _page(
        self,
        view: SurveyView,
        token: str,
        answers: dict[str, AnswerValue],
        *,
        notice: str | None = None,
        problems: Rejected | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        html = self.context.pages.survey(
            view.survey,
            locale=view.invitation.locale,
            action=quote(token, safe=""),
            static=_STATIC,
            answers=answers,
            notice=notice,
            problems=problems.problems if problems else (),
        )
        return HTMLResponse(html, status_code=status)

    def _done(self, view: SurveyView, key: str) -> HTMLResponse:
        locale = view.invitation.locale
        if key == "thanks" and view.survey.thanks is not None:
            t = words(locale)
            html = self.context.pages.render(
                "message.html.j2",
                lang=locale,
                title=t["thanks_title"],
                body=view.survey.thanks.get(locale, view.survey.default_locale),
                static=_STATIC,
                form=None,
                t=t,
            )
            return HTMLResponse(html)
        return HTMLResponse(self.context.pages.message(locale, key, static=_STATIC))


def _problems(
    survey: Survey, answers: Mapping[str, AnswerValue], *, complete: bool
) -> list[Problem]:
    """Every problem with *answers*: bad values, and what is missing or hidden among the rest."""
    problems = survey.check_answers(answers, complete=False, logic=False)
    bad = {p.path.removeprefix("answers.") for p in problems}
    rest = {q: v for q, v in answers.items() if q not in bad}
    return problems + survey.check_answers(rest, complete=complete)


def _query(request: Request) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        fields.setdefault(key, []).append(value)
    return fields


class Unsubscribe:
    """``GET`` and ``POST /u/<token>``: one-click unsubscribe (RFC 8058), and its page.

    A ``GET`` (a person, or a mail scanner following links) only shows a
    question with a button; a ``POST`` with the body
    ``List-Unsubscribe=One-Click`` (what mail providers and the button send)
    opts the address out.
    """

    def __init__(self, context: Context) -> None:
        self.context = context

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        context = self.context
        limited = context.limited(request, _STATIC)
        if limited is not None:
            return limited
        token = request.path_params["token"]
        if request.method == "GET":
            found = await context.intake.find_invitation(
                token, (TokenPurpose.UNSUBSCRIBE,), expired_ok=True
            )
            if isinstance(found, Rejected):
                return _refusal_page(context, found)
            name, _, value = ONE_CLICK_BODY.partition("=")
            form = {
                "action": quote(token, safe=""),
                "fields": [(name, value)],
                "button": words(found.locale)["unsubscribe_button"],
            }
            html = context.pages.message(found.locale, "unsubscribe", static=_STATIC, form=form)
            return HTMLResponse(html)
        body = await read_body(request, context.max_body_bytes)
        if body.decode("utf-8", "replace").strip() != ONE_CLICK_BODY:
            return error_json(
                400,
                "bad_request",
                f"an unsubscribe POST has the body {ONE_CLICK_BODY!r} (RFC 8058)",
            )
        result = await context.intake.opt_out(token=token, keyword=ONE_CLICK_BODY)
        if isinstance(result, Rejected):
            if wants_html(request):
                return _refusal_page(context, result)
            return error_json(rejection_status(result.reason), result.reason.value, result.message)
        invitation = getattr(result, "invitation", None)
        locale = invitation.locale if invitation is not None else "en"
        if wants_html(request):
            return HTMLResponse(context.pages.message(locale, "unsubscribed", static=_STATIC))
        return PlainTextResponse("unsubscribed\n")


def allowed_sender(sender: str, allowed: tuple[str, ...]) -> bool:
    """Whether *sender* (an email address) is on the allow-list.

    An entry is an address (``surveys@bazaar.example.in``), or a domain
    (``bazaar.example.in`` or ``@bazaar.example.in``) that allows every
    address at it. Case does not matter.

    >>> allowed_sender("Surveys@Bazaar.example.in", ("bazaar.example.in",))
    True
    >>> allowed_sender("x@evil.example", ("surveys@bazaar.example.in",))
    False
    """
    sender = sender.strip().lower()
    if sender.count("@") != 1 or not sender.split("@")[1]:
        return False
    domain = sender.split("@")[1]
    for entry in allowed:
        entry = entry.strip().lower()  # noqa: PLW2901 - normalised in place
        if entry == sender or (entry.lstrip("@") == domain and "@" not in entry.lstrip("@")):
            return True
    return False


class AmpForm:
    """``POST /amp/<token>``: the form inside an AMP for Email message.

    It checks the sender as AMP for Email's CORS requires, version 2
    (``AMP-Email-Sender`` → ``AMP-Email-Allow-Sender``) or version 1
    (``__amp_source_origin`` and ``Origin``), against the allow-list of
    senders; takes ``multipart/form-data`` or urlencoded bodies; and always
    answers JSON, 2xx or 4xx, never a redirect.
    """

    def __init__(self, context: Context) -> None:
        self.context = context

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        context = self.context
        cors = self._cors(request)
        if isinstance(cors, Response):
            return cors
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors)
        limited = context.limited(request, _STATIC)
        if limited is not None:
            limited.headers.update(cors)
            return limited
        body = await read_body(request, context.max_body_bytes)
        fields = InboundRequest(
            method="POST", url=context.public_url, headers=dict(request.headers), body=body
        ).form()
        try:
            answers = answers_from_fields(fields, drop_empty=True)
        except InboundError as exc:
            return error_json(400, "bad_request", str(exc), headers=cors)
        if not answers:
            return error_json(
                400, "bad_request", "the form carries no answer (q.<question> fields)", headers=cors
            )
        result = await context.intake.submit(
            request.path_params["token"], answers, complete=True, purposes=(TokenPurpose.AMP,)
        )
        if isinstance(result, Rejected):
            return error_json(
                rejection_status(result.reason),
                result.reason.value,
                result.message,
                problems=result.problems,
                headers=cors,
            )
        return JSONResponse({"ok": True}, headers=cors)

    def _cors(self, request: Request) -> dict[str, str] | Response:
        allowed = self.context.amp_senders
        sender = request.headers.get("amp-email-sender")
        if sender is not None:
            if allowed_sender(sender, allowed):
                return {"AMP-Email-Allow-Sender": sender.strip()}
            return error_json(403, "forbidden", "the AMP sender is not on the allow-list")
        source = request.query_params.get("__amp_source_origin")
        origin = request.headers.get("origin")
        if source is not None and origin is not None:
            if allowed_sender(source, allowed):
                return {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Credentials": "true",
                    "AMP-Access-Control-Allow-Source-Origin": source,
                    "Access-Control-Expose-Headers": "AMP-Access-Control-Allow-Source-Origin",
                }
            return error_json(403, "forbidden", "the AMP source origin is not on the allow-list")
        return error_json(
            403,
            "forbidden",
            "an AMP form post names its sender (AMP-Email-Sender, or __amp_source_origin "
            "with Origin)",
        )
