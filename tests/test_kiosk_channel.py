"""The kiosk channel: the conformance suite, against a screen stand-in served on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cxcore import InboundError, InboundRequest, OutboundMessage, SendError
from cxcore.model.survey import AnswerValue
from cxcore.testing import ChannelConformance, ChannelHarness
from cxcore.testing.samples import sample_invitation, sample_surveys
from cxcore_channels.kiosk import KioskChannel, KioskConfigError

BASE = "https://cx.bazaar.example.in/r"


class Screen:
    """A customer-facing screen stand-in: keeps what it was sent; answers *status*."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200

    async def show(self, request: Request) -> Response:
        self.received.append((dict(request.headers), json.loads(await request.body())))
        if self.status != 200:
            return JSONResponse({"error": "busy"}, status_code=self.status)
        return JSONResponse({"shown": True})

    async def delivered(self) -> list[str | None]:
        return [None for _ in self.received]  # address-less: one None per message


@contextlib.contextmanager
def serve(screen: Screen) -> Iterator[str]:
    app = Starlette(routes=[Route("/show", screen.show, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/show"
    finally:
        server.should_exit = True
        thread.join(5)


class TestKioskConformance(ChannelConformance):
    channel_name = "kiosk"
    address = None

    @contextlib.asynccontextmanager
    async def open_channel(self) -> AsyncIterator[ChannelHarness]:
        screen = Screen()
        with serve(screen) as url:
            channel = KioskChannel(base_url=BASE, push_url=url, push_secret="s3cret")
            try:
                yield ChannelHarness(channel, delivered=screen.delivered)
            finally:
                await channel.aclose()

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest | None:
        shown = json.loads(message.parts["application/json"])
        body = {"token": shown["token"], "answers": dict(answers), "key": "tap-1"}
        return InboundRequest(
            method="POST",
            url=f"{BASE}/c/kiosk",
            headers={"content-type": "application/json"},
            body=json.dumps(body).encode(),
        )


def _invitation(locale: str = "hi") -> tuple[Any, Any]:
    survey = sample_surveys()[0]
    return sample_invitation(survey, channel="kiosk", address=None, locale=locale), survey


class TestKioskChannel:
    def test_the_screen_gets_the_token_link_and_language_with_its_secret(self):
        """send posts the rendered JSON with Idempotency-Key and the bearer secret."""
        screen = Screen()
        invitation, survey = _invitation()
        with serve(screen) as url:
            channel = KioskChannel(base_url=BASE, push_url=url, push_secret="s3cret")
            result = asyncio.run(channel.send(channel.render(invitation, survey)))
        ((headers, body),) = screen.received
        assert headers["authorization"] == "Bearer s3cret"
        assert headers["idempotency-key"] == invitation.id
        assert body["token"] == invitation.token
        assert body["url"] == f"{BASE}/s/{invitation.token}"
        assert body["locale"] == "hi"
        assert body["title"] == survey.title.get("hi", survey.default_locale)
        assert result.invitation_id == invitation.id
        assert result.provider_id is not None
        assert result.provider_id.startswith("kiosk-")

    @pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (400, False)])
    def test_a_refusing_screen_says_whether_to_retry(self, status, retryable):
        """A 5xx or 429 is retryable; another 4xx is not; the status is the error's code."""
        screen = Screen()
        screen.status = status
        invitation, survey = _invitation("en")
        with serve(screen) as url:
            channel = KioskChannel(base_url=BASE, push_url=url)
            with pytest.raises(SendError) as caught:
                asyncio.run(channel.send(channel.render(invitation, survey)))
        assert caught.value.retryable is retryable
        assert caught.value.code == str(status)

    def test_no_screen_at_all_is_retryable(self):
        """Nothing listening: a retryable SendError naming the URL."""
        with serve(Screen()) as url:
            pass  # the server is stopped: its port refuses connections
        channel = KioskChannel(base_url=BASE, push_url=url, timeout=2)
        invitation, survey = _invitation("en")
        with pytest.raises(SendError, match="did not answer") as caught:
            asyncio.run(channel.send(channel.render(invitation, survey)))
        assert caught.value.retryable

    @pytest.mark.parametrize(
        ("settings", "field"),
        [
            ({"base_url": "cx.example.in", "push_url": "http://screen/"}, "base_url"),
            ({"base_url": BASE, "push_url": "ftp://screen/"}, "push_url"),
            ({"base_url": BASE, "push_url": "http://screen/", "timeout": 0}, "timeout"),
            ({"base_url": BASE, "push_url": "http://screen/", "push_secret": ""}, "push_secret"),
        ],
    )
    def test_bad_settings_are_named(self, settings, field):
        """Each unusable setting raises KioskConfigError naming it."""
        with pytest.raises(KioskConfigError, match=field):
            KioskChannel(**settings)

    def test_answers_with_problems_are_refused_naming_each(self):
        """parse_inbound names every field at fault."""
        channel = KioskChannel(base_url=BASE, push_url="http://screen/")
        body = {"token": "", "answers": {"ltr": 1.5}, "complete": "yes", "extra": 1}
        request = InboundRequest(
            method="POST", url=f"{BASE}/c/kiosk", body=json.dumps(body).encode()
        )
        with pytest.raises(InboundError) as caught:
            channel.parse_inbound(request)
        for field in ("extra", "token", "answers.ltr", "complete"):
            assert field in str(caught.value)


def test_a_deployment_file_builds_it_with_the_collectors_url_and_its_secret(tmp_path):
    """[channels.kiosk]: base_url from the collector, push_secret from the environment."""
    from cxcore.deployment import loads_deployment  # noqa: PLC0415

    deployment = loads_deployment(
        '[store]\nsqlite = "cx.db"\n[collector]\npublic_url = "https://cx.example.in/r"\n'
        '[channels.kiosk]\npush_url = "http://screen.lan/show"\npush_secret_env = "SCREEN"\n',
        folder=tmp_path,
    )
    (channel,) = deployment.create_channels(environ={"SCREEN": "s3cret"}).values()
    assert isinstance(channel, KioskChannel)
    assert channel.base_url == "https://cx.example.in/r"
    assert channel.push_url == "http://screen.lan/show"
    assert channel._secret == "s3cret"  # private: never shown, not even in its repr
