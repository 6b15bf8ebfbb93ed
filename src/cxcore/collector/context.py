"""What the routes of one collector share: its store, intake, pages, limits and settings."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

import attrs
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cxcore.api_keys import check_api_key
from cxcore.collector._http import BodyTooLarge, client_address, error_json, wants_html
from cxcore.collector.pages import Pages
from cxcore.collector.security import RateLimiter, presented_key
from cxcore.errors import CxError
from cxcore.intake import Intake
from cxcore.ports.channel import Channel
from cxcore.ports.clock import Clock
from cxcore.ports.store import ApiKey, Store, StoreError

__all__ = ["Context", "Handler", "guarded"]

log = logging.getLogger("cxcore.collector")

Handler = Callable[[Request], Awaitable[Response]]
"""A route's handler."""


@attrs.define(kw_only=True)
class Context:
    """One collector's parts and settings, shared by its routes."""

    store: Store
    intake: Intake
    pages: Pages
    public_url: str
    channels: Mapping[str, Channel]
    amp_senders: tuple[str, ...]
    clock: Clock
    max_body_bytes: int
    by_address: RateLimiter
    by_key: RateLimiter
    secret: bytes
    key_cache_seconds: float = 5.0
    _keys: dict[str, tuple[float, ApiKey | None]] = attrs.field(factory=dict, init=False)

    @property
    def base_path(self) -> str:
        """The path of the public URL (``/r`` for ``https://cx.example.in/r``)."""
        return urlsplit(self.public_url).path.rstrip("/")

    @property
    def secure(self) -> bool:
        """Whether the public URL is https (cookies are then ``Secure``)."""
        return self.public_url.startswith("https://")

    def limited(self, request: Request, static: str, locale: str = "en") -> Response | None:
        """A 429 answer if the request's address is over its rate, else ``None``."""
        wait = self.by_address.check(client_address(request))
        if not wait:
            return None
        headers = {"Retry-After": str(wait)}
        if wants_html(request):
            page = self.pages.message(locale, "busy", static=static)
            return HTMLResponse(page, status_code=429, headers=headers)
        return _too_many(f"too many requests; retry after {wait} s", wait)

    async def api_key(self, request: Request, scope: str) -> ApiKey | Response:
        """The request's API key, if it holds *scope* and is within its rate; else the refusal."""
        presented = presented_key(request)
        key = None if presented is None else await self._checked(presented, scope)
        if key is None:
            # Refusals count against the address: guessing keys is rate-limited.
            wait = self.by_address.check(client_address(request))
            if wait:
                return _too_many(f"too many refused requests; retry after {wait} s", wait)
            if presented is None:
                return error_json(
                    401,
                    "unauthorized",
                    "an API key is required (Authorization: Bearer <key>, or X-Api-Key)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return error_json(
                403,
                "forbidden",
                f"the API key is not valid, is revoked, or lacks the scope {scope!r}",
            )
        wait = self.by_key.check(key.id)
        if wait:
            return _too_many(f"too many requests with key {key.id!r}; retry after {wait} s", wait)
        return key

    async def _checked(self, presented: str, scope: str) -> ApiKey | None:
        """The key, checked against the store at most every ``key_cache_seconds`` per key.

        The cache is keyed by a digest of the presented key and scope; a key
        revoked in the store stops working within that many seconds.
        """
        cache_key = hashlib.sha256(f"{scope}\0{presented}".encode()).hexdigest()
        now = time.monotonic()
        hit = self._keys.get(cache_key)
        if hit is not None and now - hit[0] < self.key_cache_seconds:
            return hit[1]
        key = await check_api_key(self.store, presented, scope)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[cache_key] = (now, key)
        return key


def _too_many(message: str, wait: int) -> Response:
    return error_json(429, "rate_limited", message, headers={"Retry-After": str(wait)})


def guarded(context: Context, handler: Handler, *, static: str = "static") -> Handler:
    """*handler*, answering what goes wrong without a traceback: 413, 503, or a plain 500.

    A person gets a page in plain words; a program gets JSON naming the problem.
    """

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except BodyTooLarge as exc:
            return error_json(413, "too_large", str(exc))
        except StoreError as exc:
            log.warning("store unavailable for %s %s: %s", request.method, request.url.path, exc)
            what = (503, "unavailable", "the store is unavailable; retry shortly")
            return _failure(context, request, what, static)
        except CxError as exc:
            return error_json(400, "bad_request", str(exc))
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("incident %s: %s %s failed", incident, request.method, request.url.path)
            return _failure(
                context, request, (500, "internal", f"internal error (incident {incident})"), static
            )

    return run


def _failure(
    context: Context, request: Request, what: tuple[int, str, str], static: str
) -> Response:
    status, reason, message = what
    if wants_html(request):
        return HTMLResponse(context.pages.message("en", "error", static=static), status_code=status)
    return error_json(status, reason, message)
