"""The kiosk channel: an invitation shown on a customer-facing screen, answered there."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from cxcore import (
    AddressKind,
    AnswersReceived,
    Capabilities,
    ChannelClosedError,
    ChannelError,
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

__all__ = ["KioskChannel", "KioskConfigError"]

log = logging.getLogger("cxcore.channels.kiosk")

MEDIA_TYPE = "application/json"
_ANSWER_FIELDS = frozenset({"token", "answers", "complete", "key"})


class KioskConfigError(ChannelError):
    """A kiosk channel setting that cannot be used, named.

    .. versionadded:: 0.1.0
    """


def _http_url(name: str, given: str) -> str:
    value: object = given
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        msg = f"{name}: {value!r} is not an absolute http(s) URL"
        raise KioskConfigError(msg)
    return given.rstrip("/") if name == "base_url" else given


class KioskChannel:
    """Survey invitations shown on a store's customer-facing screen, answered on it.

    ``render`` gives the screen what it shows, as JSON: the invitation's token,
    its survey, version and language, and the survey link as a fallback. ``send``
    posts it to *push_url* (the screen, or the store's device manager), with the
    invitation id as ``Idempotency-Key``. The screen posts the answers back to
    the collector's ``/c/<name>`` route as JSON,
    ``{"token", "answers", "complete", "key"}``, which ``parse_inbound`` reads.

    Anonymous kiosk answers (no invitation) do not go through the channel: the
    collector's kiosk page takes them (see :mod:`cxcore.collector.kiosk`).

    Args:
        base_url: The collector's public URL; the survey link is built under it.
        push_url: Where ``send`` posts rendered invitations.
        push_secret: Sent as ``Authorization: Bearer <secret>`` to *push_url*.
        timeout: Seconds to wait for the screen.

    Raises:
        KioskConfigError: For a setting it cannot use, naming it.

    .. versionadded:: 0.1.0
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({MEDIA_TYPE}),
        address=AddressKind.NONE,
        two_way=True,
        inbound=InboundMode.FORM,
        offline=True,
    )

    def __init__(
        self,
        *,
        base_url: str,
        push_url: str,
        push_secret: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = _http_url("base_url", base_url)
        self.push_url = _http_url("push_url", push_url)
        secret: object = push_secret
        if secret is not None and (not isinstance(secret, str) or not secret):
            msg = "push_secret: expected a non-empty string"
            raise KioskConfigError(msg)
        seconds: object = timeout
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            msg = f"timeout: {timeout!r} is not a number of seconds above 0"
            raise KioskConfigError(msg)
        self._secret = push_secret
        self.timeout = float(timeout)
        self._closed = False

    def __repr__(self) -> str:
        return f"KioskChannel(push_url={self.push_url!r})"

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        """The screen's view of *invitation*: JSON with its token, survey and link. Pure."""
        locale = invitation.locale
        body = {
            "invitation_id": invitation.id,
            "token": invitation.token,
            "survey": survey.id,
            "version": survey.version,
            "locale": locale,
            "title": survey.title.get(locale, survey.default_locale),
            "questions": [q.id for q in survey.questions],
            "url": f"{self.base_url}/s/{invitation.token}",
        }
        text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return OutboundMessage(
            invitation_id=invitation.id,
            channel=invitation.channel,
            to=invitation.address,
            parts={MEDIA_TYPE: text},
            headers={"Idempotency-Key": invitation.id},
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        """Post *message* to the screen.

        Raises:
            ChannelClosedError: After :meth:`aclose`.
            SendError: Retryable for a 429, a 5xx or no answer; not for another 4xx.
        """
        if self._closed:
            msg = "the kiosk channel is closed"
            raise ChannelClosedError(msg)
        body = message.parts.get(MEDIA_TYPE)
        if body is None:
            msg = f"message {message.invitation_id!r} has no {MEDIA_TYPE} part"
            raise SendError(msg)
        status, text = await asyncio.to_thread(self._post, body.encode(), dict(message.headers))
        if 200 <= status < 300:
            digest = hashlib.sha256(body.encode()).hexdigest()[:16]
            return SendResult(
                invitation_id=message.invitation_id,
                provider_id=f"kiosk-{digest}",
                detail=text[:200],
            )
        what = f"the screen at {self.push_url} answered {status}: {text[:200]!r}"
        raise SendError(what, retryable=status == 429 or status >= 500, code=str(status))

    def _post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s)
            self.push_url, data=body, method="POST"
        )
        request.add_header("Content-Type", f"{MEDIA_TYPE}; charset=utf-8")
        for name, value in headers.items():
            request.add_header(name, value)
        if self._secret:
            request.add_header("Authorization", f"Bearer {self._secret}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, response.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(4096).decode("utf-8", "replace")
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            msg = f"the screen at {self.push_url} did not answer: {exc}"
            # It may have shown the survey before the connection dropped; showing it
            # again is harmless (the screen keys it by invitation id), so retry.
            raise SendError(msg, retryable=True) from exc

    def parse_inbound(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Read the answers a screen posts: JSON ``{"token", "answers", "complete", "key"}``.

        Raises:
            InboundError: Naming what is wrong with the request.
        """
        if request.method != "POST":
            msg = f"{request.method} is not how a screen posts answers (expected POST with JSON)"
            raise InboundError(msg)
        try:
            body: Any = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            msg = f"the body is not JSON: {exc}"
            raise InboundError(msg) from exc
        if not isinstance(body, dict):
            msg = f"the body is a JSON {type(body).__name__}, not an object"
            raise InboundError(msg)
        problems = [f"{name}: is not a field" for name in sorted(set(body) - _ANSWER_FIELDS)]
        token, answers = body.get("token"), body.get("answers")
        complete, key = body.get("complete", True), body.get("key")
        if not isinstance(token, str) or not token:
            problems.append(f"token: {token!r} is not a token")
        if not isinstance(answers, dict) or not answers:
            problems.append(f"answers: {answers!r} is not an object of question id to answer")
        else:
            problems.extend(
                f"answers.{qid}: {value!r} is not a number, text or list of option ids"
                for qid, value in answers.items()
                if not _answer(value)
            )
        if not isinstance(complete, bool):
            problems.append(f"complete: {complete!r} is not true or false")
        if key is not None and (not isinstance(key, str) or not key):
            problems.append(f"key: {key!r} is not a non-empty string")
        if problems or not isinstance(answers, dict):
            raise InboundError("; ".join(problems))
        given = {q: tuple(v) if isinstance(v, list) else v for q, v in answers.items()}
        return [AnswersReceived(token=token, answers=given, complete=complete, key=key)]

    async def aclose(self) -> None:
        """Refuse further sends. Calling it again does nothing."""
        self._closed = True


def _answer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
