"""The in-app widget's side of the collector: its script, and its JSON API for web apps.

=====================================  ==========================================================
route                                  what
=====================================  ==========================================================
``GET /w/cx-widget.<hash>.js``         the widget script; its URL changes with its content, so
                                       it is cached for a year (``immutable``)
``GET /w/cx-widget.js``                a short-lived redirect to the current script
``POST /w/v1/eligibility``             "should this user see a survey now, after this event?":
                                       the distribution rules and fatigue caps decide
``POST /w/v1/answers``                 answers, with the prompt's token and an idempotency key
``POST /w/v1/shown``                   the prompt was shown (the invitation's ``opened``)
``POST /w/v1/dismissed``               the user closed the prompt (the invitation's
                                       ``dismissed``: a refusal in response rates)
``OPTIONS /w/v1/...``                  CORS preflight
=====================================  ==========================================================

Each app the widget runs in has a *publishable* key (``pk_...``) and an
allow-list of origins. The key is public by nature: it names the app, it does
not prove anything. What protects the API is the origin check, made before any
handler runs: a browser on a page of another origin gets no CORS headers, so
its preflight fails and the request itself is never sent; a request that
arrives anyway with a foreign ``Origin`` is refused with 403.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cxcore.collector._http import (
    JSONResponse,
    error_json,
    json_object,
    read_body,
    results_response,
)
from cxcore.collector.context import Context, guarded
from cxcore.collector.fatigue import FatigueFollower
from cxcore.dispatch.outbox import Outbox
from cxcore.distribution.decide import Decision, Outcome, decide, record, skip_refused
from cxcore.distribution.rules import RuleSet
from cxcore.distribution.tokens import TokenPurpose, TokenService
from cxcore.errors import CxError, Problem, ValidationError, count_problems
from cxcore.model._checks import Checks
from cxcore.model.customer import AddressKind, Customer, Purpose
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import DIMENSIONS, Interaction
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.survey import AnswerValue, Survey
from cxcore.ports.store import InviteRefusedError, StoreError

__all__ = [
    "SCRIPT_NAME",
    "WidgetApp",
    "WidgetRoutes",
    "new_publishable_key",
    "user_token",
    "widget_script",
]

SCRIPT_NAME = "cx-widget"
"""The widget script's name: it is served at ``/w/cx-widget.<hash>.js``."""

KEY_HEADER = "x-cx-app-key"
"""The header the widget sends its publishable key in."""

_KEY = re.compile(r"pk_[A-Za-z0-9_-]{16,64}")
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-fA-F:.]+\](:[0-9]{1,5})?"
)
_ALLOWED_HEADERS = frozenset({"content-type", KEY_HEADER, "idempotency-key"})
_ELIGIBILITY_FIELDS = frozenset(
    {"event", "event_id", "properties", "user", "locale", "timezone", "country"}
)
_USER_FIELDS = frozenset({"id", "token"})
_ANSWER_FIELDS = frozenset({"token", "answers", "complete", "key", "locale"})
_PREFLIGHT_SECONDS = 600
_MAX_PROPERTIES = 30


def new_publishable_key() -> str:
    """A new publishable key for an app: ``pk_`` and 24 random URL-safe characters.

    .. versionadded:: 0.1.0
    """
    return "pk_" + secrets.token_urlsafe(18)


def _user_mac(secret: bytes, app_id: str, user_id: str, expires: int) -> str:
    message = f"cxcore-inapp-user\0{app_id}\0{user_id}\0{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def user_token(secret: str | bytes, app_id: str, user_id: str, expires_at: datetime) -> str:
    """The signed user token your backend gives the widget, so the user id cannot be spoofed.

    ``<expiry>.<hex HMAC-SHA256>``: the expiry in epoch seconds, and the HMAC,
    with the app's user secret, of the text ``cxcore-inapp-user``, the app id,
    the user id and the expiry, joined by NUL characters (byte 0).
    Compute it in your backend (any language does HMAC-SHA256) when the user
    signs in, and pass it to ``cx.identify({id, token})``.

    >>> from datetime import UTC, datetime
    >>> user_token("s" * 32, "web", "C-1001", datetime(2027, 1, 1, tzinfo=UTC))[:11]
    '1798761600.'

    .. versionadded:: 0.1.0
    """
    key = secret.encode() if isinstance(secret, str) else secret
    expires = int(expires_at.timestamp())
    return f"{expires}.{_user_mac(key, app_id, user_id, expires)}"


def _origins(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _touchpoints(value: Mapping[str, str]) -> FrozenDict[str, str]:
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


def _secret(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


@attrs.frozen(kw_only=True, repr=False)
class WidgetApp:
    """One app the in-app widget runs in: its publishable key and the origins it serves.

    Args:
        id: The app's id (``"bazaar-web"``): interactions it reports are
            ``<id>:<event id>``.
        key: Its publishable key (``pk_...``, see
            :func:`~cxcore.collector.widget.new_publishable_key`). Public: it is in
            your page's source.
        origins: The origins its pages are served from, exactly
            (``"https://www.bazaar.example.in"``: scheme, host, port; no path).
        name: Its name, for people.
        user_secret: The secret your backend signs user tokens with
            (:func:`~cxcore.collector.widget.user_token`). With it, a user id the widget names is
            believed only with a valid token; without it, the browser's word is
            taken (see :doc:`/channels/inapp` for the trade-off).
        channel: The channel instance its prompts go out on.
        touchpoints: The touchpoint of each event the app tracks, where the
            event's name is not itself the touchpoint.
        anonymous: Whether visitors who are not signed in may be asked.

    Raises:
        ValidationError: Naming every field at fault.

    .. versionadded:: 0.1.0
    """

    id: str
    key: str
    origins: tuple[str, ...] = attrs.field(converter=_origins)
    name: str = ""
    user_secret: bytes | None = attrs.field(default=None, converter=_secret)
    channel: str = "inapp"
    touchpoints: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_touchpoints)
    anonymous: bool = True

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        key: object = self.key  # anything may have been passed
        if not (isinstance(key, str) and _KEY.fullmatch(key)):
            checks.add("key", "is not a publishable key (expected pk_ and 16 to 64 URL-safe chars)")
        if not self.origins:
            checks.add("origins", "is empty (expected the origins the app's pages are served from)")
        given: tuple[object, ...] = self.origins
        for i, origin in enumerate(given):
            if not (isinstance(origin, str) and _ORIGIN.fullmatch(origin)):
                checks.add(
                    f"origins[{i}]",
                    f"{origin!r} is not an origin (expected scheme://host[:port], no path)",
                )
        if self.user_secret is not None and len(self.user_secret) < 32:
            checks.add("user_secret", f"has {len(self.user_secret)} bytes (expected 32 or more)")
        checks.identifier("channel", self.channel)
        for event, touchpoint in self.touchpoints.items():
            checks.identifier(f"touchpoints[{event!r}]", touchpoint)
        checks.is_a("anonymous", self.anonymous, bool, "True or False")
        checks.raise_if_any(f"WidgetApp {self.id!r}")

    def __repr__(self) -> str:
        signed = "signed users" if self.user_secret else "unsigned users"
        return f"WidgetApp({self.id!r}, origins={list(self.origins)}, {signed})"

    def touchpoint(self, event: str) -> str:
        """The touchpoint *event* reports."""
        return self.touchpoints.get(event, event)

    def verify_user(self, user_id: str, token: str | None, now: datetime) -> str | None:
        """Why *token* does not prove *user_id* (``None`` if it does, or no secret is set)."""
        if self.user_secret is None:
            return None
        if not token:
            return "user.token is missing (this app signs its users: see user_token)"
        expires_text, _, mac = token.partition(".")
        if not expires_text.isdigit() or not mac:
            return "user.token is malformed (expected <expiry>.<hex HMAC>)"
        expires = int(expires_text)
        expected = _user_mac(self.user_secret, self.id, user_id, expires)
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return "user.token does not match the user id"
        if expires <= now.timestamp():
            return "user.token has expired"
        return None


def widget_script() -> bytes:
    """The widget script, as served.

    .. versionadded:: 0.1.0
    """
    return (files("cxcore.collector") / "assets" / f"{SCRIPT_NAME}.js").read_bytes()


AppHandler = Callable[[Request, WidgetApp], Awaitable[Response]]


class WidgetRoutes:
    """The widget's routes on one collector: the script and the JSON API.

    Args:
        context: The collector's shared parts.
        apps: The apps the widget runs in.
        rules: The distribution rules eligibility goes through.
        tokens: Signs the tokens of in-app invitations.
        fatigue: Who was asked when: the collector's one state, shared with
            ``/api/interactions`` and kept up with asks made by other processes
            (an email yesterday); by default one of the widget's own.
    """

    def __init__(
        self,
        context: Context,
        apps: Sequence[WidgetApp],
        rules: RuleSet,
        tokens: TokenService,
        *,
        fatigue: FatigueFollower | None = None,
    ) -> None:
        problems: list[Problem] = []
        by_key: dict[str, WidgetApp] = {}
        for i, app in enumerate(apps):
            if app.key in by_key:
                problems.append(
                    Problem(f"apps[{i}].key", f"is also the key of {by_key[app.key].id!r}")
                )
            by_key[app.key] = app
            channel = context.channels.get(app.channel)
            if channel is None:
                known = ", ".join(sorted(context.channels)) or "none"
                problems.append(
                    Problem(
                        f"apps[{i}].channel",
                        f"{app.channel!r} is not a channel of the collector (channels: {known})",
                    )
                )
            elif "application/json" not in type(channel).capabilities.formats:
                problems.append(
                    Problem(
                        f"apps[{i}].channel",
                        f"{app.channel!r} does not render prompts (application/json)",
                    )
                )
        if problems:
            raise ValidationError("Collector apps", problems)
        self.context = context
        self.apps = tuple(apps)
        self.by_key = by_key
        self.origins = frozenset(o for app in apps for o in app.origins)
        self.tokens = tokens
        self.outbox = Outbox(context.store, tokens, clock=context.clock)
        channels = {app.channel: AddressKind.APP_USER for app in apps}
        self.rules = {c: rules.on_channels({c: kind}) for c, kind in channels.items()}
        self.recontact_days = rules.fatigue.recontact_days
        self.fatigue = fatigue or FatigueFollower(context.store, rules, context.clock)
        self._surveys: dict[tuple[str, int], Survey] = {}
        self._recent: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        script = widget_script()
        self.script = script
        self.script_gzip = gzip.compress(script, compresslevel=9, mtime=0)
        self.digest = hashlib.sha256(script).hexdigest()[:16]

    @property
    def script_path(self) -> str:
        """The script's path under the collector: ``/w/cx-widget.<hash>.js``."""
        return f"/w/{SCRIPT_NAME}.{self.digest}.js"

    def routes(self) -> list[BaseRoute]:
        """The routes to add to the collector."""
        context = self.context
        methods = ["POST", "OPTIONS"]
        return [
            Route(self.script_path, self._script, methods=["GET", "HEAD"]),
            Route(f"/w/{SCRIPT_NAME}.js", self._latest, methods=["GET", "HEAD"]),
            Route(
                "/w/v1/eligibility", guarded(context, self._api(self.eligibility)), methods=methods
            ),
            Route("/w/v1/answers", guarded(context, self._api(self.answers)), methods=methods),
            Route("/w/v1/shown", guarded(context, self._api(self.shown)), methods=methods),
            Route("/w/v1/dismissed", guarded(context, self._api(self.dismissed)), methods=methods),
        ]

    # -- the script ---------------------------------------------------------------------------

    async def _script(self, request: Request) -> Response:
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Type": "text/javascript; charset=utf-8",
            "Vary": "Accept-Encoding",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "ETag": f'"{self.digest}"',
        }
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.script_gzip, headers=headers)
        return Response(self.script, headers=headers)

    async def _latest(self, request: Request) -> Response:
        del request
        target = f"{self.context.base_path}{self.script_path}"
        return RedirectResponse(
            target, status_code=307, headers={"Cache-Control": "public, max-age=300"}
        )

    # -- CORS and the app's key, before any handler ---------------------------------------------

    def _api(self, handler: AppHandler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            origin = request.headers.get("origin")
            if request.method == "OPTIONS":
                return self._preflight(request, origin)
            cors = self._cors(origin) if origin in self.origins else {}
            app = self.by_key.get(request.headers.get(KEY_HEADER, ""))
            if app is None:
                wait = self.context.by_address.check(_address(request))
                if wait:
                    return error_json(
                        429, "rate_limited", "too many refused requests", headers=cors
                    )
                return error_json(
                    401,
                    "unauthorized",
                    f"no app has this publishable key (send it as {KEY_HEADER})",
                    headers=cors,
                )
            if origin is None or origin not in app.origins:
                # No CORS headers: a browser shows the page nothing.
                return error_json(
                    403,
                    "forbidden_origin",
                    f"the origin {origin!r} is not one of app {app.id!r}'s origins",
                )
            limited = self.context.limited(request, "static")
            if limited is not None:
                limited.headers.update(cors)
                return limited
            response = await handler(request, app)
            response.headers.update(cors)
            return response

        return run

    def _cors(self, origin: str | None) -> dict[str, str]:
        assert origin is not None  # noqa: S101 - only for allowed origins
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def _preflight(self, request: Request, origin: str | None) -> Response:
        asked = request.headers.get("access-control-request-method", "")
        wanted = {
            h.strip().lower()
            for h in request.headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        }
        if origin not in self.origins or asked != "POST" or not wanted <= _ALLOWED_HEADERS:
            return Response(status_code=403, headers={"Vary": "Origin"})
        headers = self._cors(origin)
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": ", ".join(sorted(_ALLOWED_HEADERS)),
                "Access-Control-Max-Age": str(_PREFLIGHT_SECONDS),
            }
        )
        return Response(status_code=204, headers=headers)

    # -- eligibility ----------------------------------------------------------------------------

    async def eligibility(self, request: Request, app: WidgetApp) -> Response:
        """``POST /w/v1/eligibility``: whether to show a survey now, and the prompt if so."""
        body = await _body(self.context, request)
        if isinstance(body, Response):
            return body
        checks = Checks()
        checks.problems.extend(_unknown(body, _ELIGIBILITY_FIELDS, ""))
        event = body.get("event")
        if not (isinstance(event, str) and 0 < len(event) <= 100):
            checks.add("event", f"{event!r} is not an event name (1 to 100 characters)")
        event_id = body.get("event_id")
        if event_id is None:
            event_id = uuid.uuid4().hex
        elif not (
            isinstance(event_id, str) and 0 < len(event_id) <= 100 and event_id.isprintable()
        ):
            checks.add(
                "event_id", f"{event_id!r} is not an event id (1 to 100 printable characters)"
            )
        user_id, token = _user(checks, body.get("user"))
        locale = _text_field(checks, body, "locale") or "en"
        timezone = _text_field(checks, body, "timezone")
        country = _text_field(checks, body, "country")
        properties = body.get("properties") or {}
        if not isinstance(properties, dict) or len(properties) > _MAX_PROPERTIES:
            checks.add(
                "properties", f"is not an object of at most {_MAX_PROPERTIES} names to values"
            )
            properties = {}
        if checks.problems:
            return _problems(checks.problems)
        assert isinstance(event, str)  # noqa: S101 - checked above
        now = self.context.clock.now()
        if user_id is not None:
            why = app.verify_user(user_id, token, now)
            if why is not None:
                return error_json(403, "forbidden_user", why)
        elif not app.anonymous:
            return _no("anonymous")
        # The user is part of the ids: another user naming the same event gets nothing of theirs.
        who = (
            "-" if user_id is None else hashlib.blake2b(user_id.encode(), digest_size=8).hexdigest()
        )
        interaction_id = f"{app.id}:{who}:{event_id}"
        repeat = self._recent.get(interaction_id)
        if repeat is not None:
            return JSONResponse(repeat)
        try:
            customer = (
                None
                if user_id is None
                else Customer(
                    id=user_id,
                    app_user_id=user_id,
                    locale=locale,
                    # The browser's zone; without it, UTC (in-app asks are exempt from quiet
                    # hours unless the rules say otherwise: the person is in the app now).
                    timezone=timezone or (None if country else "UTC"),
                    country=country,
                )
            )
            interaction = Interaction(
                id=interaction_id,
                touchpoint=app.touchpoint(event),
                occurred_at=now,
                customer_id=user_id,
                **_dimensions(properties),
            )
        except ValidationError as exc:
            return _problems([_request_problem(p) for p in exc.problems])
        result = await self._decide(app, interaction, customer, locale, now)
        self._remember(interaction.id, result)
        return JSONResponse(result)

    async def _decide(
        self,
        app: WidgetApp,
        interaction: Interaction,
        customer: Customer | None,
        locale: str,
        now: datetime,
    ) -> dict[str, Any]:
        store = self.context.store
        if customer is not None:
            waiting = await self._waiting(app, customer.id, now)
            if waiting is not None:
                return await self._show(waiting, locale, now, pulled=True)
            if await store.suppression(customer.id, app.channel) is not None:
                return {"show": False, "reason": "suppressed"}
            consent = await store.consent(customer.id, app.channel, Purpose.SURVEY)
            if consent is not None:
                customer = attrs.evolve(customer, consents=(consent,))
        state = await self.fatigue.state(now)
        decision = decide(self.rules[app.channel], interaction, customer, state, self.context.clock)
        if decision.outcome is not Outcome.INVITE:
            return _skip(decision)
        # Recorded before any await: a second call for this person, in flight at the same
        # time, sees the ask and is refused. A failed write leaves them counted as asked.
        record(state, decision)
        assert decision.due_at is not None  # noqa: S101 - an invitation has a due time
        try:
            if decision.due_at > now + timedelta(seconds=1):
                scheduled = await self.outbox.schedule(
                    decision, customer=customer, interaction=interaction
                )
                return {
                    "show": False,
                    "reason": "scheduled",
                    "invitation": scheduled.invitation.id,
                    "due_at": decision.due_at.isoformat(),
                }
            invitation = await self._invite(decision, customer, interaction, now)
        except InviteRefusedError as refused:  # asked by another process since the state's read
            return _skip(skip_refused(self.rules[app.channel], decision, refused, state))
        return await self._show(invitation, locale, now, pulled=False)

    async def _waiting(self, app: WidgetApp, user_id: str, now: datetime) -> Invitation | None:
        """The user's newest in-app invitation that was sent but never shown, if open."""
        store = self.context.store
        invitation = await store.open_invitation(user_id, app.channel, now=now)
        if invitation is None:
            return None
        done = {d for d, _ in await store.dispositions(invitation.id)}
        if Disposition.SENT in done and Disposition.OPENED not in done:
            return invitation
        return None

    async def _invite(
        self,
        decision: Decision,
        customer: Customer | None,
        interaction: Interaction,
        now: datetime,
    ) -> Invitation:
        assert decision.invitation_id is not None  # noqa: S101 - an invite has them all
        assert decision.survey is not None  # noqa: S101
        assert decision.channel is not None  # noqa: S101
        assert decision.expires_at is not None  # noqa: S101
        survey = await self._survey(decision.survey, None)
        signed = self.tokens.issue_all(decision.invitation_id, decision.expires_at)
        invitation = Invitation(
            id=decision.invitation_id,
            survey_id=survey.id,
            survey_version=survey.version,
            channel=decision.channel,
            address=decision.address,
            token=signed.token,
            created_at=now,
            expires_at=decision.expires_at,
            customer_id=decision.customer_id,
            account_id=decision.account_id,
            interaction_id=decision.interaction_id,
            locale=customer.locale if customer is not None else "en",
            timezone=customer.timezone or "UTC" if customer is not None else "UTC",
            context=interaction.context(),
        )
        # Stored only if nobody asked the person since the state was read (another process).
        [added] = await self.context.store.add_invitations(
            [(invitation, [])], guards=[decision.guard]
        )
        if isinstance(added, StoreError):
            raise added
        # The same event twice: the first one's invitation stands (its id holds the user).
        return added.invitation

    async def _show(
        self, invitation: Invitation, locale: str, now: datetime, *, pulled: bool
    ) -> dict[str, Any]:
        """The prompt of *invitation*, recorded as sent (made here) or delivered (*pulled*)."""
        survey = await self._survey(invitation.survey_id, invitation.survey_version)
        # One write: an ask made here is sent as it is handed out; one the dispatcher
        # sent earlier is delivered now. The widget's "shown" makes it opened.
        disposition = Disposition.DELIVERED if pulled else Disposition.SENT
        await self.context.store.record_disposition(
            invitation.id, disposition, now, "in-app widget"
        )
        channel = self.context.channels[invitation.channel]
        try:
            shown = attrs.evolve(invitation, locale=locale)
        except ValidationError:
            shown = invitation
        message = channel.render(shown, survey)
        return {
            "show": True,
            "prompt": json.loads(message.parts["application/json"]),
            # How long the browser of an anonymous visitor keeps quiet after a prompt.
            "recontact_days": self.recontact_days,
        }

    async def _survey(self, survey_id: str, version: int | None) -> Survey:
        if version is not None and (survey_id, version) in self._surveys:
            return self._surveys[survey_id, version]
        survey = await self.context.store.survey(survey_id, version)
        if version is not None:
            self._surveys[survey_id, version] = survey
        return survey

    def _remember(self, key: str, result: dict[str, Any]) -> None:
        """Keep the answer to an event, so that a retry of the same call gets the same one."""
        self._recent[key] = result
        if len(self._recent) > 5_000:  # a prompt is a few KB: at most some 20 MB
            self._recent.popitem(last=False)

    # -- answers and views ----------------------------------------------------------------------

    async def answers(self, request: Request, app: WidgetApp) -> Response:
        """``POST /w/v1/answers``: answers to a prompt, with its token and an idempotency key."""
        body = await _body(self.context, request)
        if isinstance(body, Response):
            return body
        checks = Checks()
        checks.problems.extend(_unknown(body, _ANSWER_FIELDS, ""))
        token = body.get("token")
        if not isinstance(token, str) or not token:
            checks.add("token", f"{token!r} is not the prompt's token")
        answers = _answers(checks, body.get("answers"))
        complete = body.get("complete", True)
        if not isinstance(complete, bool):
            checks.add("complete", f"{complete!r} is not true or false")
        key = request.headers.get("idempotency-key") or body.get("key")
        if not (isinstance(key, str) and 0 < len(key.strip()) <= 200):
            checks.add("key", f"{key!r} is not an idempotency key (1 to 200 characters)")
        locale = _text_field(checks, body, "locale")
        if checks.problems:
            return _problems(checks.problems)
        assert isinstance(token, str)  # noqa: S101 - checked above
        assert isinstance(key, str)  # noqa: S101
        assert isinstance(complete, bool)  # noqa: S101
        result = await self.context.intake.submit(
            token,
            answers,
            complete=complete,
            channel=app.channel,
            key=f"{app.id}:{key}",
            locale=locale,
        )
        return results_response([result])

    async def shown(self, request: Request, app: WidgetApp) -> Response:
        """``POST /w/v1/shown``: the prompt of ``token`` was shown (recorded as ``opened``)."""
        del app
        return await self._mark(request, Disposition.OPENED)

    async def dismissed(self, request: Request, app: WidgetApp) -> Response:
        """``POST /w/v1/dismissed``: the user closed the prompt of ``token`` (``dismissed``).

        Recorded whether or not something was answered first: an invitation's
        furthest disposition (``started`` after some answers) is its outcome.
        """
        del app
        return await self._mark(request, Disposition.DISMISSED)

    async def _mark(self, request: Request, disposition: Disposition) -> Response:
        """Record *disposition* for the invitation of the body's prompt token."""
        body = await _body(self.context, request)
        if isinstance(body, Response):
            return body
        token = body.get("token")
        if set(body) != {"token"} or not isinstance(token, str):
            return error_json(422, "invalid_request", 'expected {"token": "<the prompt\'s token>"}')
        try:
            invitation_id = self.tokens.verify(token, TokenPurpose.SURVEY)
        except CxError as exc:
            return error_json(403, "forbidden", f"token: {exc}")
        try:
            await self.context.store.record_disposition(
                invitation_id, disposition, self.context.clock.now(), "in-app widget"
            )
        except StoreError as exc:
            if "no invitation" not in str(exc):
                raise
            return error_json(410, "unknown_invitation", "the prompt's invitation is not stored")
        return JSONResponse({"ok": True})


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _body(context: Context, request: Request) -> dict[str, Any] | Response:
    body = json_object(await read_body(request, context.max_body_bytes))
    if isinstance(body, str):
        return error_json(400, "bad_request", body)
    return body


def _unknown(body: Mapping[str, Any], known: frozenset[str], prefix: str) -> list[Problem]:
    return [
        Problem(f"{prefix}{name}", f"is not a field (expected: {', '.join(sorted(known))})")
        for name in sorted(set(body) - known)
    ]


def _problems(problems: list[Problem]) -> Response:
    return error_json(
        422,
        "invalid_request",
        f"{count_problems(len(problems))}: " + "; ".join(map(str, problems)),
        problems=problems,
    )


def _text_field(checks: Checks, body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 64):
        checks.add(name, f"{value!r} is not text of 1 to 64 characters")
        return None
    return value


def _user(checks: Checks, user: object) -> tuple[str | None, str | None]:
    if user is None:
        return None, None
    if not isinstance(user, dict):
        checks.add("user", f"{user!r} is not an object with the user's id")
        return None, None
    checks.problems.extend(_unknown(user, _USER_FIELDS, "user."))
    user_id, token = user.get("id"), user.get("token")
    if not (isinstance(user_id, str) and 0 < len(user_id) <= 200):
        checks.add("user.id", f"{user_id!r} is not a user id (1 to 200 characters)")
        user_id = None
    if token is not None and not isinstance(token, str):
        checks.add("user.token", f"{token!r} is not a token")
        token = None
    return user_id, token


def _dimensions(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The interaction's fields from the event's properties: dimensions, then attributes."""
    fields: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, value in properties.items():
        if name in DIMENSIONS and name not in ("touchpoint", "customer"):
            fields[name] = value
        else:
            attributes[name] = value
    if attributes:
        fields["attributes"] = attributes
    return fields


def _request_problem(problem: Problem) -> Problem:
    """A problem of the interaction built from the request, named as the request names it."""
    path = problem.path
    if path == "touchpoint":  # the event's name, or the touchpoint the app maps it to
        path = "event"
    elif path.startswith("attributes"):
        path = "properties" + path.removeprefix("attributes")
    elif path.split(".")[0].split("[")[0] in DIMENSIONS:
        path = f"properties.{path}"
    elif path in ("app_user_id", "id"):
        path = "user.id"
    return Problem(path, problem.message)


def _answers(checks: Checks, answers: object) -> dict[str, AnswerValue]:
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


def _skip(decision: Decision) -> dict[str, Any]:
    result: dict[str, Any] = {
        "show": False,
        "reason": decision.reason.value if decision.reason else "skip",
    }
    if decision.eligible_at is not None:
        result["eligible_at"] = decision.eligible_at.isoformat()
    return result


def _no(reason: str) -> Response:
    return JSONResponse({"show": False, "reason": reason})
