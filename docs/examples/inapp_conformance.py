"""The conformance suite run against the example in-app channel (see writing-a-channel.md).

In a plugin's own repository this file would be ``tests/test_inapp_channel.py``.
"""

# A docs example, not a package; and a test module, where assert is how pytest tests.
# ruff: noqa: INP001, S101

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping

import pytest
from inapp_channel import SIGNATURE_HEADER, InAppChannel, sign

from cxcore import AnswerValue, InboundRequest, OutboundMessage, SendError
from cxcore.testing import ChannelConformance, ChannelHarness, sample_invitation, sample_surveys

SECRET = b"test-secret"


class AppBackend:
    """A stand-in for the app's backend: records prompts as the real one receives them."""

    def __init__(self, status: int = 201) -> None:
        self.status = status
        self.prompts: list[dict[str, object]] = []

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        """Receive a prompt, or a lookup by token, as the backend's HTTP endpoints would."""
        if url.endswith("/lookup"):
            tokens = [p["token"] for p in self.prompts]
            if body.decode() not in tokens:
                return 404, b""
            return 200, f"prompt-{tokens.index(body.decode()) + 1}".encode()
        if self.status >= 300:
            return self.status, b""
        self.prompts.append(json.loads(body))
        return self.status, f"prompt-{len(self.prompts)}".encode()

    async def recipients(self) -> list[str | None]:
        """The app user of every prompt received so far, in order."""
        return [str(p["user"]) for p in self.prompts]


class TestInAppChannel(ChannelConformance):
    """Every test of the conformance suite, plus this channel's own."""

    channel_name = None  # "inapp" once the plugin's entry point is installed
    address = "u-1001"  # an app user id: the channel's address kind is app_user

    @contextlib.asynccontextmanager
    async def open_channel(self) -> AsyncIterator[ChannelHarness]:
        """Start the backend stand-in and the channel; close the channel on exit."""
        backend = AppBackend()
        channel = InAppChannel(
            push_url="https://app.bazaar.example/prompts", secret=SECRET, transport=backend.post
        )
        try:
            yield ChannelHarness(channel, delivered=backend.recipients)
        finally:
            await channel.aclose()

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest:
        """The signed post the app makes when the user answers *message*."""
        prompt = json.loads(message.parts["application/json"])
        body = json.dumps({"token": prompt["token"], "answers": dict(answers), "complete": True})
        return InboundRequest(
            method="POST",
            url="https://cx.bazaar.example/inbound/inapp",
            headers={SIGNATURE_HEADER: sign(SECRET, body.encode())},
            body=body.encode(),
        )

    # -- this channel's own tests -------------------------------------------

    def test_unknown_user_is_suppressed(self) -> None:
        """A 404 from the backend means the user is gone: never send to them again."""
        survey = sample_surveys()[0]
        channel = InAppChannel(
            push_url="https://app.bazaar.example/prompts",
            secret=SECRET,
            transport=AppBackend(status=404).post,
        )
        message = channel.render(sample_invitation(survey, address=self.address), survey)
        with pytest.raises(SendError) as caught:
            asyncio.run(channel.send(message))
        assert caught.value.suppress
        assert not caught.value.retryable
