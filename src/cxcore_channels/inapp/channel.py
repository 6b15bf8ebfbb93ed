"""The in-app channel: survey prompts shown inside the customer's own app, by the widget."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import urlsplit

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
from cxcore_channels.inapp.prompt import prompt_json

__all__ = ["PROMPT_TYPE", "InAppChannel", "notify_signature"]

log = logging.getLogger("cxcore.channels.inapp")

PROMPT_TYPE = "application/json"
"""The media type of the one part a rendered prompt has."""

_MAX_ANSWER_BODY = 64 * 1024


def notify_signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Cxcore-Signature`` of a notification: ``sha256=`` and the HMAC of time and body.

    The receiving backend recomputes it over the ``X-Cxcore-Timestamp`` header
    and the raw body, compares in constant time, and refuses old timestamps.

    >>> notify_signature("s3cret", "1765000000", b"{}")[:7]
    'sha256='

    .. versionadded:: 0.1.0
    """
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


class InAppChannel:
    """Survey prompts inside your app: the widget shows them; answers come back as forms.

    In-app prompts are pulled, not pushed: the widget asks the collector
    whether the signed-in user should see a survey now (``/w/v1/eligibility``)
    and shows the prompt it gets. An invitation that the rules put on this
    channel (after an interaction your backend reported) waits in the store,
    and the widget shows it the next time that user opens the app.

    :meth:`send` is what the dispatcher calls when such an invitation is due.
    With *notify_url*, it tells your backend (a signed ``POST`` of
    ``{"invitation_id", "user", "survey", "locale"}``), for example to badge a
    mobile app; without one it only marks the prompt ready for the widget.

    Args:
        notify_url: Where to post "a prompt is ready" notifications, if anywhere.
        notify_secret: The HMAC secret of their ``X-Cxcore-Signature``
            (required with *notify_url*).
        timeout: Seconds to wait for *notify_url*.

    Raises:
        ValueError: If *notify_url* is not an http(s) URL, or has no secret.

    .. versionadded:: 0.1.0
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({PROMPT_TYPE}),
        address=AddressKind.APP_USER,
        two_way=True,
        inbound=InboundMode.FORM,
    )

    def __init__(
        self,
        *,
        notify_url: str | None = None,
        notify_secret: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if notify_url is not None:
            parts = urlsplit(notify_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                msg = f"notify_url: {notify_url!r} is not an http(s) URL"
                raise ValueError(msg)
            if not notify_secret:
                msg = "notify_secret: is required with notify_url (notifications are signed)"
                raise ValueError(msg)
        self.notify_url = notify_url
        self._secret = notify_secret
        self.timeout = timeout
        self._closed = False

    def __repr__(self) -> str:
        return f"InAppChannel(notify_url={self.notify_url!r})"

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        """The prompt the widget shows, as JSON, in the invitation's locale. Pure."""
        return OutboundMessage(
            invitation_id=invitation.id,
            channel=invitation.channel,
            to=invitation.address,
            parts={PROMPT_TYPE: prompt_json(invitation, survey)},
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        """Mark the prompt ready for the widget, and notify your backend if configured.

        Raises:
            ChannelClosedError: After :meth:`aclose`.
            SendError: If *notify_url* refuses (retryable on 429 and 5xx and on
                network errors: a repeated notification is harmless).
        """
        if self._closed:
            msg = "the in-app channel is closed"
            raise ChannelClosedError(msg)
        provider_id = f"inapp:{message.invitation_id}"
        if self.notify_url is None:
            return SendResult(
                invitation_id=message.invitation_id,
                provider_id=provider_id,
                detail="ready for the widget",
            )
        prompt = json.loads(message.parts[PROMPT_TYPE])
        body = json.dumps(
            {
                "invitation_id": message.invitation_id,
                "user": message.to,
                "survey": prompt.get("survey"),
                "locale": prompt.get("locale"),
            },
            separators=(",", ":"),
        ).encode()
        status = await asyncio.to_thread(self._post, body)
        return SendResult(
            invitation_id=message.invitation_id,
            provider_id=provider_id,
            detail=f"notified ({status})",
        )

    def _post(self, body: bytes) -> int:
        assert self.notify_url is not None  # noqa: S101 - send checked it
        assert self._secret is not None  # noqa: S101 - the constructor checked it
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.notify_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Cxcore-Timestamp": timestamp,
                "X-Cxcore-Signature": notify_signature(self._secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the connection
            retry = exc.code == 429 or exc.code >= 500
            msg = f"notify_url answered HTTP {exc.code}"
            raise SendError(msg, retryable=retry, code=str(exc.code)) from exc
        except (urllib.error.URLError, OSError) as exc:
            msg = f"notify_url could not be reached: {exc}"
            raise SendError(msg, retryable=True) from exc

    def parse_inbound(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Answers the widget posts: ``{"token", "answers", "complete", "key"}`` as JSON.

        Raises:
            InboundError: If the body is not such a JSON object.
        """
        if request.method != "POST":
            msg = f"the in-app channel takes answers by POST (got {request.method})"
            raise InboundError(msg)
        if len(request.body) > _MAX_ANSWER_BODY:
            msg = f"the body is larger than {_MAX_ANSWER_BODY} bytes"
            raise InboundError(msg)
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            msg = f"the body is not JSON: {exc}"
            raise InboundError(msg) from exc
        if not isinstance(body, dict):
            msg = f"the body is a JSON {type(body).__name__}, not an object"
            raise InboundError(msg)
        token, answers = body.get("token"), body.get("answers")
        complete, key = body.get("complete", True), body.get("key")
        problems = []
        if not isinstance(token, str) or not token:
            problems.append(f"token: {token!r} is not a token")
        if not isinstance(answers, dict) or not answers:
            problems.append(f"answers: {answers!r} is not an object of question id to answer")
        else:
            for qid, value in answers.items():
                ok = (isinstance(value, int | str) and not isinstance(value, bool)) or (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                )
                if not ok:
                    problems.append(
                        f"answers.{qid}: {value!r} is not a number, text or list of option ids"
                    )
        if not isinstance(complete, bool):
            problems.append(f"complete: {complete!r} is not true or false")
        if key is not None and (not isinstance(key, str) or not key.strip()):
            problems.append(f"key: {key!r} is not a non-empty string")
        if problems:
            raise InboundError("; ".join(problems))
        assert isinstance(answers, dict)  # noqa: S101 - checked above
        return [
            AnswersReceived(
                token=token,
                answers={k: tuple(v) if isinstance(v, list) else v for k, v in answers.items()},
                complete=complete,
                key=key,
            )
        ]

    async def aclose(self) -> None:
        """Refuse further sends. Calling it again does nothing."""
        self._closed = True
