"""The HTTP transport the twilio SDK talks through: any Twilio-compatible base URL, our retries.

The SDK's own :class:`~twilio.http.async_http_client.AsyncTwilioHttpClient`
retries a POST on any 5xx when asked to retry at all, which can send an SMS
twice that Twilio had already accepted. :class:`TwilioTransport` retries only
what is certainly safe: a ``429 Too Many Requests`` (Twilio accepted nothing),
honouring its ``Retry-After``, and a connection that could not be opened (the
request never left). Everything else goes back to the SDK as it came.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from cxcore_channels.sms.errors import SmsConfigError

__all__ = ["NotSentError", "TwilioTransport"]

log = logging.getLogger("cxcore.channels.sms")

Sleep = Callable[[float], Awaitable[None]]


class NotSentError(ConnectionError):
    """The request never reached the provider: no connection could be opened, even after retries.

    .. versionadded:: 0.1.0
    """


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds, or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    import datetime as dt  # noqa: PLC0415 - only for the rare date form

    now = dt.datetime.now(when.tzinfo or dt.UTC)
    return max(0.0, (when - now).total_seconds())


class TwilioTransport(AsyncHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """An async HTTP client for the twilio SDK that can point at any Twilio-compatible endpoint.

    >>> transport = TwilioTransport(base_url="http://127.0.0.1:8080")
    >>> transport.target("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json")
    'http://127.0.0.1:8080/2010-04-01/Accounts/AC1/Messages.json'

    Args:
        base_url: Where requests go instead of ``https://api.twilio.com`` (a
            regional edge, a proxy, a test's loopback emulator); ``None``
            keeps the SDK's URLs.
        timeout: Seconds a request may take in all.
        max_attempts: Attempts per request while Twilio answers 429 or the
            connection cannot be opened (the first included).
        backoff: The ceiling of the first retry's wait, doubled each time
            (full jitter), when no ``Retry-After`` says otherwise.
        max_wait: The longest single wait; a ``Retry-After`` beyond it ends
            the retries (the 429 goes back, for the dispatcher to retry later).
        connections: The most connections open at once.
        sleep: Waits between attempts (a test may pass its own).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float = 15.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        connections: int = 100,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(log, True, timeout)  # noqa: FBT003 - the SDK's signature
        if base_url is not None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                msg = f"api_base_url: {base_url!r} is not an absolute http(s) URL"
                raise SmsConfigError(msg)
        if max_attempts < 1:
            msg = f"max_attempts: {max_attempts} is not 1 or more"
            raise SmsConfigError(msg)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.connections = connections
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self.retried = 0
        """How many attempts were repeated (429s and refused connections), for reports."""

    def __repr__(self) -> str:
        return f"TwilioTransport(base_url={self.base_url or 'https://api.twilio.com'!r})"

    def target(self, url: str) -> str:
        """*url* with its scheme and host replaced by the base URL's, if one is set."""
        if self.base_url is None:
            return url
        parts, base = urlsplit(url), urlsplit(self.base_url)
        path = base.path.rstrip("/") + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def _wait(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before attempt *attempt* + 1, or ``None`` to stop retrying."""
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        ceiling = min(self.max_wait, self.backoff * 2.0 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    async def request(  # noqa: PLR0917 - the SDK's signature
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
        allow_redirects: bool = False,  # noqa: FBT001, FBT002 - the SDK's signature
    ) -> Response:
        """Make one request for the SDK, retrying 429s and refused connections.

        Raises:
            NotSentError: If the connection could not be opened on any attempt.
            TimeoutError: If no answer came in time (the request may have been taken).
            aiohttp.ClientError: If the connection failed after the request was sent.
        """
        session = self._open()
        sent_headers = dict(headers or {})
        if auth is not None:
            pair = f"{auth[0]}:{auth[1]}".encode()
            sent_headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        kwargs: dict[str, Any] = {
            "params": params,
            "data": data,
            "headers": sent_headers,
            "timeout": aiohttp.ClientTimeout(total=timeout or self.timeout),
            "allow_redirects": allow_redirects,
        }
        target = self.target(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with session.request(method.upper(), target, **kwargs) as answer:
                    text = await answer.text()
                    status = answer.status
                    answer_headers = dict(answer.headers)
            except aiohttp.ClientConnectorError as exc:
                # The connection was never opened: the request never left.
                wait = self._wait(attempt, None)
                if wait is None:
                    where = urlsplit(target).netloc
                    msg = f"cannot connect to {where} after {attempt} attempts: {exc}"
                    raise NotSentError(msg) from exc
                self.retried += 1
                await self._sleep(wait)
                continue
            if status == 429:
                wait = self._wait(attempt, _retry_after(answer_headers.get("Retry-After")))
                if wait is not None:
                    self.retried += 1
                    await self._sleep(wait)
                    continue
            return Response(status, text, answer_headers)

    async def close(self) -> None:
        """Close the connections. Calling it again does nothing."""
        if self._session is not None:
            await self._session.close()
            self._session = None
