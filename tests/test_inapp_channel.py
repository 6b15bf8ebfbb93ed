"""The in-app channel: the conformance suite, its prompts, and notifications to a real backend."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cxcore import AnswerValue, InboundError, InboundRequest, OutboundMessage, SendError
from cxcore.testing import ChannelConformance, ChannelHarness, sample_invitation, sample_surveys
from cxcore_channels.inapp import InAppChannel, notify_signature, prompt

SECRET = "notify-secret-0123456789abcdef"


class Backend:
    """The host app's backend on loopback: checks each notification's signature, keeps it."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, object]] = []
        self.refused = 0

    async def notify(self, request: Request) -> Response:
        body = await request.body()
        expected = notify_signature(SECRET, request.headers["x-cxcore-timestamp"], body)
        if not hmac.compare_digest(expected, request.headers["x-cxcore-signature"]):
            self.refused += 1
            return Response(status_code=401)
        if self.status != 200:
            return Response(status_code=self.status)
        self.received.append(json.loads(body))
        return JSONResponse({"ok": True})


@contextlib.contextmanager
def serve_backend(backend: Backend) -> Iterator[str]:
    app = Starlette(routes=[Route("/cx/notify", backend.notify, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/cx/notify"
    finally:
        server.should_exit = True
        thread.join(5)


class TestInAppConformance(ChannelConformance):
    channel_name = "inapp"
    address = "C-1001"

    @contextlib.asynccontextmanager
    async def open_channel(self) -> AsyncIterator[ChannelHarness]:
        backend = Backend()
        with serve_backend(backend) as url:
            channel = InAppChannel(notify_url=url, notify_secret=SECRET)

            async def delivered() -> list[str | None]:
                return [str(n["user"]) for n in backend.received]

            try:
                yield ChannelHarness(channel, delivered=delivered)
            finally:
                await channel.aclose()

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest | None:
        shown = json.loads(message.parts["application/json"])
        body = {"token": shown["token"], "answers": dict(answers), "complete": True, "key": "k1"}
        return InboundRequest(
            method="POST",
            url="https://cx.example.in/c/inapp",
            headers={"content-type": "application/json"},
            body=json.dumps(body).encode(),
        )


class TestPrompt:
    def test_every_question_kind_is_described(self) -> None:
        """Scales carry their levels and glyphs, choices their options, follow-ups their conditions."""
        kinds = {}
        for survey in sample_surveys():
            shown = prompt(sample_invitation(survey, channel="inapp", locale="en"), survey)
            for q in shown["questions"]:
                kinds[q["kind"]] = q
        nps = kinds["nps"]
        assert [lv["value"] for lv in nps["scale"]["levels"]] == list(range(11))
        assert "options" in kinds["choice"]
        assert "max_length" in kinds["text"]

    def test_hostile_names_stay_data(self) -> None:
        """A name with markup is a JSON string; the widget shows it as text."""
        survey = sample_surveys()[0]
        invitation = sample_invitation(survey, channel="inapp", name="<img src=x onerror=alert(1)>")
        assert prompt(invitation, survey)["name"] == "<img src=x onerror=alert(1)>"


class TestSend:
    def test_without_a_backend_the_prompt_is_ready_for_the_widget(self) -> None:
        """No notify_url: send succeeds at once, for the widget to pull the prompt."""
        survey = sample_surveys()[0]
        channel = InAppChannel()
        message = channel.render(sample_invitation(survey, channel="inapp", address="C-1"), survey)
        result = asyncio.run(channel.send(message))
        assert result.provider_id == "inapp:inv-0001"

    @pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (400, False)])
    def test_a_backend_refusal_says_whether_to_retry(self, status: int, *, retryable: bool) -> None:
        """5xx and 429 are retried; another 4xx is not."""
        survey = sample_surveys()[0]
        backend = Backend(status)
        with serve_backend(backend) as url:
            channel = InAppChannel(notify_url=url, notify_secret=SECRET)
            message = channel.render(
                sample_invitation(survey, channel="inapp", address="C-1"), survey
            )
            with pytest.raises(SendError) as caught:
                asyncio.run(channel.send(message))
        assert caught.value.retryable is retryable
        assert backend.refused == 0

    def test_a_notify_url_needs_a_secret(self) -> None:
        """Notifications are signed: a URL without a secret is refused, naming it."""
        with pytest.raises(ValueError, match="notify_secret"):
            InAppChannel(notify_url="https://app.example.in/cx")
        with pytest.raises(ValueError, match="notify_url"):
            InAppChannel(notify_url="ftp://app.example.in/cx", notify_secret=SECRET)


class TestParseInbound:
    def test_every_problem_is_named(self) -> None:
        """A malformed answer names each field at fault."""
        request = InboundRequest(
            method="POST",
            url="https://cx.example.in/c/inapp",
            body=b'{"token": "", "answers": {"ltr": true}, "complete": "yes"}',
        )
        with pytest.raises(InboundError) as caught:
            InAppChannel().parse_inbound(request)
        assert str(caught.value).split("; ")[0].startswith("token:")
        assert "answers.ltr" in str(caught.value)
        assert "complete" in str(caught.value)
