"""What the collector checks and adds: security headers, rate limits, API keys, CSRF tokens."""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Mapping

import attrs
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxcore.dispatch.limits import TokenBucket
from cxcore.model._checks import Checks
from cxcore.ports.clock import Clock

__all__ = [
    "ACCESS_LOGGER",
    "CONTENT_SECURITY_POLICY",
    "AccessLog",
    "RateLimiter",
    "RateLimits",
    "SecurityHeaders",
    "csrf_token",
    "presented_key",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Every page's policy: nothing inline, nothing from elsewhere, never framed."""

_TOKEN_PATH = re.compile(r"/(s|l|u|amp)/[^/?]+")
ACCESS_LOGGER = "cxcore.collector.access"
"""The logger of :class:`AccessLog`: a line a request, at INFO."""
access = logging.getLogger(ACCESS_LOGGER)

_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # survey URLs carry tokens
    (b"x-frame-options", b"DENY"),
)
_ALL_HEADERS = (*_HEADERS, (b"cache-control", b"no-store"))
_HEADER_NAMES = frozenset(name for name, _ in _ALL_HEADERS)


class AccessLog:
    """ASGI middleware: one log line per request, with the tokens in survey links masked.

    ``cxcore serve`` wraps the collector in it. Wrap your own app in it when you
    mount the collector yourself, and turn your server's own access log off
    (uvicorn's ``access_log=False``): it would log the tokens.

    Paths such as ``/s/<token>`` (and ``/l/<code>``, ``/u/``, ``/amp/``) are
    logged as ``/s/…``: a token opens a person's survey. Query strings
    (one-click answers) are left out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection and log its request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", scope.get("path", ""))
            access.info(
                "%s %s %d %.1f ms",
                scope.get("method", "-"),
                path,
                status,
                (time.perf_counter() - started) * 1000,
            )


class SecurityHeaders:
    """ASGI middleware: the security headers, and ``no-store``, on every response.

    Survey pages and API answers carry tokens and answers: no cache may keep
    them. ``no-store`` goes on every response that sets no ``Cache-Control``
    of its own, static files included (Starlette's set none).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection, adding the headers to its answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                if present.isdisjoint(_HEADER_NAMES):  # most answers: all of them, at once
                    headers += _ALL_HEADERS
                else:
                    headers.extend(h for h in _HEADERS if h[0] not in present)
                    if b"cache-control" not in present:
                        headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@attrs.frozen(kw_only=True)
class RateLimits:
    """How many requests the collector takes, per sender address and per API key.

    Each is a token bucket: *rate* requests a second on average, up to *burst*
    at once. ``None`` turns a limit off.

    Args:
        per_address: Requests per second from one network address (survey
            pages, AMP posts, webhooks).
        address_burst: The most requests at once from one address.
        per_key: Requests per second with one API key.
        key_burst: The most requests at once with one API key.

    .. versionadded:: 0.1.0
    """

    per_address: float | None = 20.0
    address_burst: int = 60
    per_key: float | None = 500.0
    key_burst: int = 1000

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        for name in ("per_address", "per_key"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            ):
                checks.add(name, f"{value!r} is not a number of requests per second above 0")
        for name in ("address_burst", "key_burst"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                checks.add(name, f"{value!r} is not a whole number of requests, 1 or more")
        checks.raise_if_any("RateLimits")


class RateLimiter:
    """Token buckets per key, forgetting the least recently used beyond *max_keys*."""

    def __init__(
        self, rate: float | None, burst: int, *, clock: Clock, max_keys: int = 50_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()

    def check(self, key: str) -> int:
        """Take one request for *key*: 0 if allowed, else the seconds to wait (``Retry-After``)."""
        if self.rate is None:
            return 0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, clock=self.clock)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        wait = bucket.try_acquire()
        return 0 if wait == 0 else max(1, math.ceil(wait))


def presented_key(request: Request) -> str | None:
    """The API key a request presents: ``Authorization: Bearer <key>`` or ``X-Api-Key``."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def csrf_token(secret: bytes, session: str) -> str:
    """The token a form of *session* posts back: the session's HMAC, so nothing is stored."""
    return hmac.new(secret, f"csrf:{session}".encode(), hashlib.sha256).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    """Whether a posted token is the expected one, compared in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def first(fields: Mapping[str, list[str]], name: str) -> str | None:
    """The first value of a form field, if any."""
    values = fields.get(name)
    return values[0] if values else None
