"""An in-app survey channel: the example of docs/writing-a-channel.md.

Bazaar's app shows survey prompts that its own backend pushes to the phone. The
channel posts each prompt to that backend as JSON; the app posts the answers
back to cxcore's collector, signed with a key both sides share.

Every option of the constructor can be written in a deployment file
(``cxcore.toml``): the key is text, read from an environment variable with
``secret_env``, and the channel posts over HTTP with the standard library
unless it is given another transport.
"""

# A docs example, not a package.
# ruff: noqa: INP001

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

import cxcore
from cxcore import (
    AddressKind,
    AnswersReceived,
    Capabilities,
    ChannelClosedError,
    InboundAuthError,
    InboundError,
    InboundEvent,
    InboundMode,
    InboundRequest,
    Invitation,
    OutboundMessage,
    SendError,
    SendResult,
    Survey,
)

Transport = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]
"""Posts a body to a URL; returns the HTTP status and the response body."""

SIGNATURE_HEADER = "x-bazaar-signature"


def sign(secret: str, body: bytes) -> str:
    """Return the signature the app sends with *body*: HMAC-SHA256 keyed with *secret*, in hex."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class UrllibTransport:
    """Posts JSON with the standard library's urllib, in a worker thread: the default transport.

    Args:
        timeout: Seconds to wait for the backend to connect, and then to answer.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"UrllibTransport(timeout={self._timeout!r})"

    async def __call__(self, url: str, body: bytes) -> tuple[int, bytes]:
        """Post *body* to *url*; return the HTTP status and the response body.

        Raises:
            TimeoutError: If the backend took the request but did not answer in time.
            OSError: If the backend cannot be reached (the request was not sent).
        """
        return await asyncio.to_thread(self._post, url, body)

    def _post(self, url: str, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 - the channel takes only http(s) URLs
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:  # a status that is not 2xx: still an answer
            with error:
                return error.code, error.read()


class InAppChannel:
    """Survey prompts inside Bazaar's app.

    Args:
        push_url: The app backend's endpoint for survey prompts (``http`` or ``https``).
        secret: The key shared with the app; answers are signed with it. In a
            deployment file, name the variable that holds it: ``secret_env``.
        timeout: Seconds the default transport waits for the backend.
        transport: How to post to the backend; by default, over HTTP with
            :class:`UrllibTransport`. Tests pass a stand-in.

    Raises:
        ValueError: If *push_url* is not an ``http`` or ``https`` URL.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({"application/json"}),
        address=AddressKind.APP_USER,
        two_way=True,
        inbound=InboundMode.FORM,
    )
    # parse_inbound refuses every request not signed with the secret
    # (InboundAuthError, answered 403): only those count against rate limits.
    signed_inbound: ClassVar[bool] = True

    def __init__(
        self,
        *,
        push_url: str,
        secret: str,
        timeout: float = 10.0,
        transport: Transport | None = None,
    ) -> None:
        if not push_url.startswith(("https://", "http://")):
            msg = f"push_url must be an http or https URL, not {push_url!r}"
            raise ValueError(msg)
        self._push_url = push_url
        self._secret = secret
        self._transport = UrllibTransport(timeout) if transport is None else transport
        self._closed = False

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        """Build the prompt the app shows. Pure: no I/O, same input, same output."""
        prompt = {
            "token": invitation.token,
            "user": invitation.address,
            "locale": invitation.locale,
            # Untrusted text: the app shows it as text, never as markup.
            "greeting": invitation.name,
            "title": survey.title.get(invitation.locale, survey.default_locale),
            # Every question as in a definition file: kind, scale, options,
            # display logic and texts, so the app can show it in any language.
            "questions": [json.loads(cxcore.dumps(q)) for q in survey.questions],
        }
        return OutboundMessage(
            invitation_id=invitation.id,
            channel=invitation.channel,
            to=invitation.address,
            parts={"application/json": json.dumps(prompt, ensure_ascii=False, sort_keys=True)},
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        """Post the prompt to the app backend.

        Raises:
            SendError: Saying whether to retry, suppress the address, or reconcile.
            ChannelClosedError: After :meth:`aclose`.
        """
        if self._closed:
            msg = "the in-app channel is closed"
            raise ChannelClosedError(msg)
        body = message.parts["application/json"].encode()
        try:
            status, reply = await self._transport(self._push_url, body)
        except TimeoutError as exc:
            # The backend may have queued the prompt: reconcile, never re-send blindly.
            msg = "the app backend did not answer in time"
            raise SendError(msg, ambiguous=True) from exc
        except OSError as exc:
            msg = f"cannot reach the app backend: {exc}"
            raise SendError(msg, retryable=True) from exc
        if status == 404:
            msg = "the app backend does not know this user"
            raise SendError(msg, suppress=True, code="404")
        if status == 429 or status >= 500:
            msg = f"the app backend answered {status}"
            raise SendError(msg, retryable=True, code=str(status))
        if not 200 <= status < 300:
            msg = f"the app backend refused the prompt with {status}"
            raise SendError(msg, code=str(status))
        prompt_id = reply.decode("utf-8", "replace").strip() or None
        return SendResult(invitation_id=message.invitation_id, provider_id=prompt_id)

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        """Ask the backend whether it has the prompt of *message* (DeliveryLookup).

        The dispatcher calls it to settle a send that timed out: the backend
        keys prompts by their token, which rendering the invitation again gives.

        Raises:
            SendError: If the backend cannot tell; the send stays unknown.
        """
        token = json.loads(message.parts["application/json"])["token"]
        query = json.dumps({"token": token}).encode()
        status, reply = await self._transport(f"{self._push_url}/lookup", query)
        if status == 404:
            return None  # the backend certainly never accepted it
        if not 200 <= status < 300:
            msg = f"the app backend answered {status} to a lookup"
            raise SendError(msg, code=str(status))
        prompt_id = reply.decode("utf-8", "replace").strip() or None
        return SendResult(invitation_id=message.invitation_id, provider_id=prompt_id)

    def parse_inbound(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Read the answers the app posted. Pure.

        Raises:
            InboundAuthError: If the request is not signed by the app (the
                collector answers 403).
            InboundError: If it is not
                ``{"token": ..., "answers": {...}, "complete": ...}`` (400).
        """
        given = request.headers.get(SIGNATURE_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, sign(self._secret, request.body).encode()):
            msg = "the request is not signed by the app"
            raise InboundAuthError(msg)
        try:
            data = json.loads(request.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            msg = f"the body is not JSON: {exc}"
            raise InboundError(msg) from None
        if not isinstance(data, dict):
            msg = "the body is not a JSON object"
            raise InboundError(msg)
        token, answers, complete = data.get("token"), data.get("answers"), data.get("complete")
        if not (
            isinstance(token, str) and isinstance(answers, dict) and isinstance(complete, bool)
        ):
            msg = 'expected {"token": "...", "answers": {...}, "complete": true or false}'
            raise InboundError(msg)
        # Lists of option ids become tuples; everything else is checked
        # against the survey by the collector.
        answers = {k: tuple(v) if isinstance(v, list) else v for k, v in answers.items()}
        return [AnswersReceived(token=token, answers=answers, complete=complete)]

    async def aclose(self) -> None:
        """Refuse further sends. Calling it again does nothing."""
        self._closed = True
