"""The conformance suite run against the example in-app channel (see writing-a-channel.md).

In a plugin's own repository this file would be ``tests/test_inapp_channel.py``.
"""

# A docs example, not a package; and a test module, where assert is how pytest tests.
# ruff: noqa: INP001, S101

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping

import pytest
from inapp_channel import SIGNATURE_HEADER, InAppChannel, sign

from cxcore import AnswerValue, InboundRequest, OutboundMessage, SendError
from cxcore.testing import ChannelConformance, ChannelHarness, sample_invitation, sample_surveys

SECRET = "test-secret"  # noqa: S105 - a key for this test only


class AppBackend:
    """A stand-in for the app's backend: records prompts as the real one receives them."""

    def __init__(self, status: int = 201) -> None:
        self.status = status
        self.prompts: list[dict[str, object]] = []

    async def post(self, url: str, body: bytes) -> tuple[int, bytes]:
        """Receive a prompt, or a lookup by token, as the backend's HTTP endpoints would."""
        if url.endswith("/lookup"):
            tokens = [p["token"] for p in self.prompts]
            token = json.loads(body)["token"]
            if token not in tokens:
                return 404, b""
            return 200, f"prompt-{tokens.index(token) + 1}".encode()
        if self.status >= 300:
            return self.status, b""
        self.prompts.append(json.loads(body))
        return self.status, f"prompt-{len(self.prompts)}".encode()

    async def recipients(self) -> list[str | None]:
        """The app user of every prompt received so far, in order."""
        return [str(p["user"]) for p in self.prompts]


@contextlib.contextmanager
def http_backend(status: int) -> Iterator[tuple[str, list[bytes]]]:
    """A backend over real HTTP on loopback: its prompts URL, and the bodies posted to it."""
    posted: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(self.rfile.read(int(self.headers["Content-Length"])))
            reply = f"prompt-{len(posted)}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            """Keep the test's output quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prompts", posted
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


class TestInAppChannel(ChannelConformance):
    """Every test of the conformance suite, plus this channel's own."""

    channel_name = None  # "bazaar_inapp" once the plugin's entry point is installed
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

    def test_default_transport_posts_over_http(self) -> None:
        """With no transport given, prompts are posted over HTTP, and statuses mapped as ever."""
        survey = sample_surveys()[0]
        invitation = sample_invitation(survey, address=self.address)
        with http_backend(201) as (url, posted):
            channel = InAppChannel(push_url=url, secret=SECRET)
            message = channel.render(invitation, survey)
            result = asyncio.run(channel.send(message))
        assert result.provider_id == "prompt-1"
        assert [json.loads(body)["user"] for body in posted] == [self.address]
        with http_backend(503) as (url, _), pytest.raises(SendError) as caught:
            asyncio.run(InAppChannel(push_url=url, secret=SECRET).send(message))
        assert caught.value.retryable
