"""A Twilio stand-in on loopback: the Messages API, signed webhooks, TwiML replies.

Test the SMS and WhatsApp channels with the real twilio SDK doing real HTTP,
offline. :class:`TwilioEmulator` is a small Starlette app shaped like Twilio:
``POST /2010-04-01/Accounts/{sid}/Messages.json`` answers 201 with the
message resource as JSON; the list and fetch resources answer as Twilio does;
errors carry ``{"code", "message", "more_info", "status"}`` (21610 for an
unsubscribed number, 20429 for too many requests, 20003 for bad credentials).
It can answer 500 *after* accepting a message, and it posts signed status
callbacks (:meth:`TwilioEmulator.deliver`) and inbound messages
(:meth:`TwilioEmulator.inbound`) to a collector, keeping the TwiML messages
the collector answers with, as Twilio sends them. :func:`serve_emulator`
serves it with uvicorn on a loopback port.

Its account is :data:`ACCOUNT` and its auth token :data:`TOKEN`: give both to
the channel, and point the channel at the emulator's ``url``.

A module of its own, imported only when used: it needs the ``server`` and
``sms`` extras (Starlette, uvicorn, the twilio SDK and its aiohttp).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

__all__ = ["ACCOUNT", "TOKEN", "Message", "TwilioEmulator", "serve_emulator"]

ACCOUNT = "AC" + "0" * 31 + "1"
"""The emulator's account sid: the only one it answers to."""
TOKEN = "emulator-auth-token-0123456789ab"  # noqa: S105 - a test account's token, published
"""The emulator's auth token: it checks API calls and signs webhooks with it."""
API = "/2010-04-01/Accounts/{account}/Messages"


@attrs.define
class Message:
    """One message the emulated Twilio holds: sent through the API, received, or a TwiML reply.

    Attributes:
        sid: Its ``SM...`` sid.
        to: The recipient (``whatsapp:+...`` on WhatsApp).
        from_: The sender: a number, or a DLT sender header.
        body: Its text (``[template HX...]`` for a WhatsApp template).
        status: ``queued``, ``received``, or the status last posted by
            :meth:`TwilioEmulator.deliver`.
        direction: ``outbound-api`` (created through the API), ``inbound``
            (posted by :meth:`TwilioEmulator.inbound`) or ``outbound-reply``
            (the collector's TwiML answer to an inbound message).
        created: When the emulator took it.
        status_callback: Where its delivery statuses go.
        messaging_service_sid: The Messaging Service it was sent from.
        content_sid: The WhatsApp template it was sent with.
        content_variables: The template's variables, as JSON.

    .. versionadded:: 0.1.0
    """

    sid: str
    to: str
    from_: str | None
    body: str
    status: str
    direction: str
    created: datetime
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    content_sid: str | None = None
    content_variables: str | None = None

    def resource(self) -> dict[str, Any]:
        """The message as Twilio's JSON resource."""
        stamp = format_datetime(self.created)
        return {
            "account_sid": ACCOUNT,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": stamp,
            "date_updated": stamp,
            "date_sent": None,
            "direction": self.direction,
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {},
            "to": self.to,
            "uri": f"{API.format(account=ACCOUNT)}/{self.sid}.json",
        }


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers)


@attrs.define
class TwilioEmulator:
    """The emulated Twilio: its messages, and what it should do with the next creates.

    Serve :meth:`app` (:func:`serve_emulator` does), then point a channel at
    ``url`` with :data:`ACCOUNT` and :data:`TOKEN`. Its state is plain
    attributes, for a test to read and to clear between tests.

    Attributes:
        messages: Every message, outbound and the collector's TwiML replies.
        unsubscribed: Numbers that replied STOP: creates to them get 21610.
        outside_window: WhatsApp numbers outside the 24-hour window: free-form gets 63016.
        plan: What the next creates meet, one entry each: ``"500-after-accept"``,
            ``("429", retry_after)``, ``"500"``, ``"slow"`` (answers after 2 s).
        creates: POSTs received, whatever their answer.
        webhook_routes: Public URL prefixes mapped to where the collector really is
            (a collector behind a proxy): webhooks are signed for the public URL
            and posted to the real one.
        url: Where it is served (``http://127.0.0.1:<port>``), once it is.

    .. versionadded:: 0.1.0
    """

    messages: list[Message] = attrs.Factory(list)
    unsubscribed: set[str] = attrs.Factory(set)
    outside_window: set[str] = attrs.Factory(set)
    plan: list[Any] = attrs.Factory(list)
    creates: int = 0
    webhook_routes: dict[str, str] = attrs.Factory(dict)
    _ids: Iterator[int] = attrs.Factory(lambda: itertools.count(1))
    url: str = ""

    def next_sid(self) -> str:
        """A new message sid, ``SM`` and 32 hex digits, never given before."""
        return f"SM{next(self._ids):032x}"

    def outbound(self) -> list[Message]:
        """The messages sent: through the API, and the collector's TwiML replies."""
        return [m for m in self.messages if m.direction.startswith("outbound")]

    def to(self, number: str) -> list[Message]:
        """The messages sent to *number* (on SMS or WhatsApp), in order."""
        return [m for m in self.outbound() if m.to.removeprefix("whatsapp:") == number]

    # -- the API -------------------------------------------------------------------

    def _authorized(self, request: Request, account: str) -> bool:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        return account == ACCOUNT and header == f"Basic {expected}"

    async def create(self, request: Request) -> Response:
        """``POST .../Messages.json``: create a message, or answer as ``plan`` says."""
        account = request.path_params["account"]
        self.creates += 1
        if not self._authorized(request, account):
            return _error(401, 20003, "Authenticate")
        form = dict(parse_qsl((await request.body()).decode()))
        step = self.plan.pop(0) if self.plan else None
        if isinstance(step, tuple) and step[0] == "429":
            return _error(429, 20429, "Too Many Requests", {"Retry-After": str(step[1])})
        if step == "500":
            return _error(500, 20500, "Internal Server Error")
        to = str(form.get("To", ""))
        number = to.removeprefix("whatsapp:")
        if number in self.unsubscribed:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        content = form.get("ContentSid")
        if to.startswith("whatsapp:") and not content and number in self.outside_window:
            return _error(
                400,
                63016,
                "Failed to send freeform message because you are outside the allowed window.",
            )
        message = Message(
            sid=self.next_sid(),
            to=to,
            from_=str(form["From"]) if "From" in form else "+15005550006",
            body=str(form.get("Body", "")) or f"[template {content}]",
            status="queued",
            direction="outbound-api",
            created=datetime.now(UTC),
            status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None,
            messaging_service_sid=str(form["MessagingServiceSid"])
            if "MessagingServiceSid" in form
            else None,
            content_sid=str(content) if content else None,
            content_variables=str(form["ContentVariables"]) if "ContentVariables" in form else None,
        )
        self.messages.append(message)
        if step == "500-after-accept":
            return _error(500, 20500, "Internal Server Error")
        if step == "slow":
            await asyncio.sleep(2)
        return JSONResponse(message.resource(), status_code=201)

    async def listing(self, request: Request) -> Response:
        """``GET .../Messages.json``: the messages, newest first, by ``To`` and ``From``."""
        account = request.path_params["account"]
        if not self._authorized(request, account):
            return _error(401, 20003, "Authenticate")
        to, from_ = request.query_params.get("To"), request.query_params.get("From")
        found = [
            m.resource()
            for m in reversed(self.messages)
            if (to is None or m.to == to) and (from_ is None or m.from_ == from_)
        ]
        size = int(request.query_params.get("PageSize", "50"))
        base = API.format(account=ACCOUNT) + ".json"
        return JSONResponse(
            {
                "messages": found[:size],
                "end": min(size, len(found)) - 1,
                "first_page_uri": base,
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": base,
            }
        )

    async def fetch(self, request: Request) -> Response:
        """``GET .../Messages/{sid}.json``: one message, or Twilio's 404."""
        sid = request.path_params["sid"]
        for m in self.messages:
            if m.sid == sid:
                return JSONResponse(m.resource())
        return _error(404, 20404, f"The requested resource {sid} was not found")

    def app(self) -> Starlette:
        """The ASGI app of the Messages API, to serve on loopback."""
        prefix = "/2010-04-01/Accounts/{account}/Messages"
        return Starlette(
            routes=[
                Route(prefix + ".json", self.create, methods=["POST"]),
                Route(prefix + ".json", self.listing, methods=["GET"]),
                Route(prefix + "/{sid}.json", self.fetch, methods=["GET"]),
            ]
        )

    # -- posting to the collector ------------------------------------------------------

    def _real(self, public: str) -> str:
        for prefix, real in self.webhook_routes.items():
            if public.startswith(prefix):
                return real + public[len(prefix) :]
        return public

    async def _post(
        self,
        public_url: str,
        params: dict[str, str],
        *,
        sign: bool = True,
        signature: str | None = None,
    ) -> aiohttp.ClientResponse:
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = signature or RequestValidator(TOKEN).compute_signature(
                public_url, params
            )
        async with (
            aiohttp.ClientSession() as session,
            session.post(self._real(public_url), data=params, headers=headers) as response,
        ):
            await response.read()
            return response

    async def deliver(
        self, sid: str, status: str = "delivered", error_code: int | None = None
    ) -> int:
        """Post the signed status callback of message *sid*; the collector's HTTP status.

        Args:
            sid: A message sent through the API, with a status callback URL.
            status: The status to report (``delivered``, ``undelivered``, ``failed``...).
            error_code: Twilio's error code, for a failure (30005 for an unknown handset).

        Raises:
            ValueError: If there is no such message, or it has no status callback URL.
        """
        message = next((m for m in self.messages if m.sid == sid), None)
        if message is None or not message.status_callback:
            msg = f"message {sid!r} is not here, or has no status callback URL"
            raise ValueError(msg)
        message.status = status
        params = {
            "AccountSid": ACCOUNT,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": message.to,
            "From": message.from_ or "",
            "ApiVersion": "2010-04-01",
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        response = await self._post(message.status_callback, params)
        return response.status

    async def inbound(
        self,
        webhook: str,
        from_: str,
        body: str,
        *,
        sid: str | None = None,
        to: str = "+15005550006",
        extra: dict[str, str] | None = None,
        times: int = 1,
        sign: bool = True,
        signature: str | None = None,
    ) -> tuple[str, list[int]]:
        """Post a signed inbound message to *webhook*, *times* times (a provider's retries).

        Every answer's TwiML messages are kept as sent (``outbound-reply``), as
        Twilio sends the reply of each webhook it got an answer to.

        Args:
            webhook: The public URL of the channel's route (``.../c/sms``).
            from_: The sender's number (``whatsapp:+...`` on WhatsApp).
            body: What they wrote.
            sid: The MessageSid (default: a new one); the same sid is a provider's retry.
            to: The number they wrote to.
            extra: More form fields (a WhatsApp ``ButtonPayload``).
            times: How many times to post it.
            sign: Whether to sign it (``False``: no ``X-Twilio-Signature``).
            signature: A signature to send instead of the right one.

        Returns:
            The MessageSid, and the collector's HTTP status for each post.
        """
        sid = sid or self.next_sid()
        params = {
            "AccountSid": ACCOUNT,
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
            **(extra or {}),
        }
        self.messages.append(
            Message(
                sid=sid,
                to=to,
                from_=from_,
                body=body,
                status="received",
                direction="inbound",
                created=datetime.now(UTC),
            )
        )
        statuses = []
        for _ in range(times):
            headers = {}
            if sign:
                headers["X-Twilio-Signature"] = signature or RequestValidator(
                    TOKEN
                ).compute_signature(webhook, params)
            async with (
                aiohttp.ClientSession() as session,
                session.post(self._real(webhook), data=params, headers=headers) as response,
            ):
                text = await response.text()
                statuses.append(response.status)
            if response.status == 200 and text.lstrip().startswith("<?xml"):
                for element in ET.fromstring(text).iter("Message"):  # noqa: S314 - our TwiML
                    self.messages.append(
                        Message(
                            sid=self.next_sid(),
                            to=from_,
                            from_=to,
                            body=element.text or "",
                            status="queued",
                            direction="outbound-reply",
                            created=datetime.now(UTC),
                        )
                    )
        return sid, statuses


@contextlib.contextmanager
def serve_emulator() -> Iterator[TwilioEmulator]:
    """Serve a new :class:`TwilioEmulator` with uvicorn on a loopback port, in a thread.

    The port is chosen by the system (``port=0``); the emulator's
    ``url`` says which. The server stops when the block ends.

    >>> with serve_emulator() as twilio:
    ...     twilio.url.startswith("http://127.0.0.1:")
    True

    Raises:
        RuntimeError: If the server has not started within 15 seconds.

    .. versionadded:: 0.1.0
    """
    emulator = TwilioEmulator()
    server = uvicorn.Server(
        uvicorn.Config(
            emulator.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            msg = "the Twilio emulator did not start"
            raise RuntimeError(msg)
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    emulator.url = f"http://127.0.0.1:{port}"
    try:
        yield emulator
    finally:
        server.should_exit = True
        thread.join(5)
