"""The collector: one ASGI app that takes every answer, opt-out and delivery event back in."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from cxcore.collector._http import JSONResponse
from cxcore.collector.api import AgentReports, Answers, Interactions
from cxcore.collector.channel_route import ChannelRoute
from cxcore.collector.context import Context, Handler, guarded
from cxcore.collector.fatigue import FatigueFollower
from cxcore.collector.kiosk import KioskLimits, KioskRoutes
from cxcore.collector.links import AmpForm, SurveyPage, Unsubscribe
from cxcore.collector.live import LiveRoutes, LiveScores
from cxcore.collector.pages import Pages
from cxcore.collector.security import RateLimiter, RateLimits, SecurityHeaders
from cxcore.collector.staff import StaffPages
from cxcore.collector.widget import WidgetApp, WidgetRoutes
from cxcore.dispatch.outbox import Outbox
from cxcore.distribution.rules import RuleSet
from cxcore.distribution.tokens import TokenService
from cxcore.errors import Problem, ValidationError
from cxcore.intake import Intake
from cxcore.links import SurveyLinks
from cxcore.ports.channel import Channel
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.store import Store

__all__ = ["Collector"]

log = logging.getLogger("cxcore.collector")

_ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Collector:
    """The collector, an ASGI app: survey pages, AMP forms, webhooks, APIs and live scores.

    Mount it in your own Starlette or FastAPI app (``app.mount("/r", collector)``,
    with ``public_url`` ending in ``/r``), or run it with ``cxcore serve``. The
    store must be open while it serves; the app opens and closes nothing of
    yours except its live-scores follower (:meth:`aclose`).

    ============================  =========================================================
    route                         what
    ============================  =========================================================
    ``/s/<token>``                the survey page; ``?q.<question>=<value>`` records a score first
    ``/u/<token>``                one-click unsubscribe (RFC 8058 ``POST``), a page for ``GET``
    ``/amp/<token>``              the AMP for Email form endpoint (CORS v1 and v2)
    ``/c/<channel>/...``          each channel's generic route: webhooks, replies, bounces
    ``/agent``                    the agent-reported feedback form (staff session)
    ``/staff/session``            staff sign in (``POST``); ``/staff/sign-out`` signs out
    ``/api/answers``              answers from apps and kiosks (API key, scope ``answers``)
    ``/api/agent-reports``        agent-reported feedback (scope ``agent``)
    ``/api/interactions``         interactions into the rules and the outbox (``interactions``)
    ``/api/interactions/batch``   up to 1,000 interactions, with a result per item
    ``/live``, ``/live/scores``   live scores: a page, and its Server-Sent Events stream
    ``/w/...``                    the in-app widget's script and JSON API (with ``apps``)
    ``/kiosk/``                   the store kiosk: its page; ``/kiosk/api/...``, its device API
    ``/healthz``, ``/readyz``     liveness, and readiness (the store answers)
    ============================  =========================================================

    Args:
        store: Where everything is written; open it before serving.
        tokens: Verifies the tokens links carry (the same keys that signed them).
        public_url: The collector's public URL, as customers and providers
            reach it: links are built and webhook signatures checked against it,
            never against the request's own ``Host``.
        channels: The channel instances by name; each gets ``/c/<name>/...``.
        amp_senders: The email senders (addresses, or domains) whose AMP forms may post.
        rules: The distribution rules, to take interactions through (``/api/interactions``).
        agent_surveys: The surveys staff may report on at ``/agent``.
        clock: Tells the time.
        max_body_bytes: The largest request body accepted.
        limits: Rate limits per sender address and per API key.
        live_interval: The shortest time between two live score updates of one view.
        apps: The apps the in-app widget runs in (their publishable keys and
            origins); the widget asks *rules* whether to show a survey.
        kiosk_limits: Requests per kiosk (device), on top of *limits*.

    Raises:
        LinkError: If *public_url* is not an absolute http(s) URL without query or fragment.
        ValidationError: If *apps* are given without *rules*, or name a channel
            the collector does not have.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        store: Store,
        tokens: TokenService,
        public_url: str,
        channels: Mapping[str, Channel] | None = None,
        amp_senders: Sequence[str] = (),
        rules: RuleSet | None = None,
        agent_surveys: Sequence[str] = (),
        clock: Clock | None = None,
        max_body_bytes: int = 64 * 1024,
        limits: RateLimits | None = None,
        live_interval: float = 0.25,
        apps: Sequence[WidgetApp] = (),
        kiosk_limits: KioskLimits | None = None,
    ) -> None:
        public_url = SurveyLinks(public_url).base_url  # checks it, strips the slash
        clock = clock or SystemClock()
        limits = limits or RateLimits()
        self.store = store
        self.public_url = public_url
        self.context = Context(
            store=store,
            intake=Intake(store, tokens, clock=clock),
            pages=Pages(),
            public_url=public_url,
            channels=dict(channels or {}),
            amp_senders=tuple(amp_senders),
            clock=clock,
            max_body_bytes=max_body_bytes,
            by_address=RateLimiter(limits.per_address, limits.address_burst, clock=clock),
            by_key=RateLimiter(limits.per_key, limits.key_burst, clock=clock),
            secret=tokens.derive_key("collector"),
        )
        self.live = LiveScores(store, min_interval=live_interval, clock=clock)
        # Who was asked when: one state for every deciding route of this process.
        self.fatigue = None if rules is None else FatigueFollower(store, rules, clock)
        self.widget = _widget(self.context, apps, rules, tokens, self.fatigue)
        self.kiosk_limits = kiosk_limits
        self.app = Starlette(
            routes=self._routes(rules, tokens, agent_surveys, clock),
            middleware=[Middleware(SecurityHeaders)],
        )

    @property
    def intake(self) -> Intake:
        """The :class:`~cxcore.intake.Intake` every route hands its events to."""
        return self.context.intake

    def __repr__(self) -> str:
        return f"Collector({self.public_url!r}, channels={sorted(self.context.channels)})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        await self.app(scope, receive, send)

    async def aclose(self) -> None:
        """Stop the live-scores follower. Calling it again does nothing."""
        await self.live.aclose()

    def _routes(
        self,
        rules: RuleSet | None,
        tokens: TokenService,
        agent_surveys: Sequence[str],
        clock: Clock,
    ) -> list[BaseRoute]:
        context = self.context
        staff = StaffPages(context, agent_surveys)
        live = LiveRoutes(context, self.live, staff)

        def route(path: str, handler: Handler, methods: list[str], static: str = "static") -> Route:
            return Route(path, guarded(context, handler, static=static), methods=methods)

        page = ["GET", "HEAD", "POST"]
        # Starlette tries routes in order: the programs' JSON APIs, which take
        # the most requests, come first. No two patterns overlap, so the order
        # changes nothing else.
        routes: list[BaseRoute] = [
            route("/api/answers", Answers(context), ["POST"]),
            route("/api/agent-reports", AgentReports(context, agent_surveys), ["POST"]),
        ]
        if rules is not None:
            outbox = Outbox(self.store, tokens, clock=clock)
            interactions = Interactions(context, rules, outbox, fatigue=self.fatigue)
            routes += [
                route("/api/interactions", interactions.one, ["POST"]),
                route("/api/interactions/batch", interactions.batch, ["POST"]),
            ]
        routes += [route(*r) for r in KioskRoutes(context, staff, self.kiosk_limits).routes()]
        if self.widget is not None:
            routes += self.widget.routes()
        survey_page = SurveyPage(context)
        routes += [
            route("/c/{channel}", ChannelRoute(context), _ANY, "../static"),
            route("/c/{channel}/{rest:path}", ChannelRoute(context), _ANY, "../../static"),
            route("/s/{token}", survey_page, page, "../static"),
            route("/l/{code}", survey_page.short_link, ["GET", "HEAD"], "../static"),
            route("/u/{token}", Unsubscribe(context), page, "../static"),
            route("/amp/{token}", AmpForm(context), ["POST", "OPTIONS"], "../static"),
            Route("/healthz", self._health, methods=["GET", "HEAD"]),
            Route("/readyz", self._ready, methods=["GET", "HEAD"]),
            Mount("/static", StaticFiles(packages=[("cxcore.collector", "static")])),
            route("/agent", staff.form, page),
            route("/staff/session", staff.session, ["POST"], "../static"),
            route("/staff/sign-out", staff.sign_out, ["POST"], "../static"),
            route("/live", live.page, ["GET", "HEAD"]),
            route("/live/scores", live.scores, ["GET"], "../static"),
        ]
        return routes

    @property
    def widget_url(self) -> str | None:
        """The widget script's URL, with its content hash (``None`` without apps)."""
        return None if self.widget is None else f"{self.public_url}{self.widget.script_path}"

    async def _health(self, request: Request) -> Response:
        del request
        return JSONResponse({"ok": True})

    async def _ready(self, request: Request) -> Response:
        del request
        try:
            head = await self.store.feed_head()
        except Exception as exc:  # noqa: BLE001 - whatever the store says, it is not ready
            log.warning("not ready: the store says %s", exc)
            return JSONResponse({"ok": False, "store": "unavailable"}, status_code=503)
        return JSONResponse({"ok": True, "feed": head})


def _widget(
    context: Context,
    apps: Sequence[WidgetApp],
    rules: RuleSet | None,
    tokens: TokenService,
    fatigue: FatigueFollower | None,
) -> WidgetRoutes | None:
    if not apps:
        return None
    if rules is None:
        problem = Problem(
            "rules", "are needed by the widget's apps (eligibility goes through them)"
        )
        raise ValidationError("Collector", [problem])
    return WidgetRoutes(context, apps, rules, tokens, fatigue=fatigue)
