"""An in-app survey channel: the example of docs/writing-a-channel.md.

Bazaar's app shows survey prompts that its own backend pushes to the phone. The
channel posts each prompt to that backend as JSON; the app posts the answers
back to cxcore's collector, signed with a key both sides share.
"""

# A docs example, not a package.
# ruff: noqa: INP001

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

import cxcore
from cxcore import (
    AddressKind,
    AnswersReceived,
    Capabilities,
    ChannelClosedError,
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


def sign(secret: bytes, body: bytes) -> str:
    """Return the signature the app sends with *body*: HMAC-SHA256, in hex."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class InAppChannel:
    """Survey prompts inside Bazaar's app.

    Args:
        push_url: The app backend's endpoint for survey prompts.
        secret: The key shared with the app; answers are signed with it.
        transport: How to post to the backend (an HTTP client in production,
            a stand-in in tests).
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({"application/json"}),
        address=AddressKind.APP_USER,
        two_way=True,
        inbound=InboundMode.FORM,
    )

    def __init__(self, *, push_url: str, secret: bytes, transport: Transport) -> None:
        self._push_url = push_url
        self._secret = secret
        self._transport = transport
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
        status, reply = await self._transport(f"{self._push_url}/lookup", token.encode())
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
            InboundError: If the request is not signed by the app, or not
                ``{"token": ..., "answers": {...}, "complete": ...}``.
        """
        expected = sign(self._secret, request.body)
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
            msg = "the request is not signed by the app"
            raise InboundError(msg)
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
