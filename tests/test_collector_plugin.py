"""A third-party channel, installed as a distribution of its own, gets inbound with no web code.

The plugin below is what a channel author writes: data plus four verbs, and a
``parse_inbound`` that checks its provider's signature over the *public* URL.
It is installed as a separate distribution (a ``.dist-info`` with its entry
point on the path), configured in ``cxcore.toml`` with its secret in the
environment, and served by ``cxcore serve`` in a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cxcore import Invitation, NpsQuestion, Survey
from cxcore.distribution import TokenService
from cxcore.stores import SQLiteStore
from tests.collector_support import free_port

pytestmark = pytest.mark.slow

KEYS = "plugin-test-key-0123456789abcdefghijkl"
SECRET = "hook-signing-secret"
PLUGIN = '''
"""Hooks: a provider that posts JSON events, signed with HMAC-SHA256 over URL + body."""

import hashlib, hmac, json
from typing import ClassVar

from cxcore import (
    AddressKind, AnswersReceived, Capabilities, ChannelClosedError, Disposition, InboundError,
    InboundMode, OutboundMessage, SendResult, StatusReceived,
)


class HooksChannel:
    capabilities: ClassVar[Capabilities] = Capabilities(
        formats={"application/json"}, address=AddressKind.APP_USER, two_way=True,
        inbound=InboundMode.WEBHOOK,
    )

    def __init__(self, *, signing_secret, inbound_url):
        self.secret = signing_secret.encode()
        self.inbound_url = inbound_url
        self.closed = False

    def render(self, invitation, survey):
        body = json.dumps({"user": invitation.address, "survey": survey.id, "token": invitation.token})
        return OutboundMessage(invitation_id=invitation.id, channel=invitation.channel,
                               to=invitation.address, parts={"application/json": body})

    async def send(self, message):
        if self.closed:
            raise ChannelClosedError("closed")
        return SendResult(invitation_id=message.invitation_id, provider_id="H-" + message.invitation_id)

    def parse_inbound(self, request):
        given = request.headers.get("x-hooks-signature", "")
        expected = hmac.new(self.secret, request.url.encode() + request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, expected):
            raise InboundError("the X-Hooks-Signature does not match")
        try:
            event = json.loads(request.body)
        except ValueError as exc:
            raise InboundError(f"the body is not JSON: {exc}") from None
        if event.get("type") == "answer":
            return [AnswersReceived(token=event["token"], answers=event["answers"], complete=True)]
        if event.get("type") == "delivered":
            return [StatusReceived(provider_id=event["id"], disposition=Disposition.DELIVERED)]
        raise InboundError(f"unknown event type {event.get('type')!r}")

    async def aclose(self):
        self.closed = True
'''

SURVEY = Survey(
    id="in_app_nps",
    title={"en": "Quick question"},
    questions=[NpsQuestion(id="ltr", text={"en": "Recommend us?"}, required=True)],
)


def install_plugin(site: Path) -> None:
    """Install the plugin as a distribution of its own: a module and its .dist-info."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "hooks_channel.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "cxcore_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cxcore-hooks\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[cxcore.channels]\nhooks = hooks_channel:HooksChannel\n", encoding="utf-8"
    )


def signed(url: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), url.encode() + body, hashlib.sha256).hexdigest()
    return {"X-Hooks-Signature": digest, "Content-Type": "application/json"}


def deployment(tmp_path: Path, port: int) -> str:
    """A cxcore.toml naming the plugin's instance, its secret in the environment; the public URL."""
    public = f"http://127.0.0.1:{port}/cx"
    (tmp_path / "cxcore.toml").write_text(
        textwrap.dedent(f"""
            [store]
            sqlite = "cx.db"

            [collector]
            public_url = "{public}"
            port = {port}
            rate_per_address = false

            [dispatch]
            in_serve = false

            [channels.hooks]
            signing_secret_env = "HOOKS_SECRET"
        """),
        encoding="utf-8",
    )
    return public


def seed(path: Path) -> str:
    """Store the survey and an invitation on the hooks channel; return its token."""
    now = datetime.now(UTC)
    issued = TokenService([KEYS], clock=_Clock(now)).issue_all("inv-1", now + timedelta(days=7))
    invitation = Invitation(
        id="inv-1",
        survey_id="in_app_nps",
        survey_version=1,
        channel="hooks",
        address="user-77",
        token=issued.token,
        created_at=now,
        expires_at=now + timedelta(days=7),
        customer_id="C-77",
    )

    async def write() -> None:
        async with SQLiteStore(path) as store:
            await store.put_survey(SURVEY)
            await store.add_invitation(invitation)

    asyncio.run(write())
    return issued.token


@contextlib.contextmanager
def serving(tmp_path: Path, site: Path, port: int) -> Iterator[None]:
    """``cxcore serve`` in a process of its own, with the plugin on its path; stopped by SIGTERM."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parent.parent), *sys.path]),
        "CXCORE_TOKEN_KEYS": KEYS,
        "HOOKS_SECRET": SECRET,
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "cxcore", "serve", "--config", str(tmp_path / "cxcore.toml")],
            env=env,
            stderr=log,
            stdout=log,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/cx/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "cxcore serve did not start"
            time.sleep(0.1)
        yield
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0, log_path.read_text()  # a clean stop
    assert "Traceback" not in log_path.read_text()


def test_a_plugin_installed_apart_gets_answers_and_statuses_through_cxcore_serve(tmp_path):
    """Signed answers and statuses are taken in; a bad signature is refused and writes nothing."""
    site = tmp_path / "site"
    install_plugin(site)
    port = free_port()
    public = deployment(tmp_path, port)
    token = seed(tmp_path / "cx.db")
    url = f"{public}/c/hooks/events"
    answer = json.dumps({"type": "answer", "token": token, "answers": {"ltr": 10}}).encode()
    with serving(tmp_path, site, port):
        forged = httpx.post(url, content=answer, headers={"X-Hooks-Signature": "0" * 64}, timeout=5)
        assert forged.status_code == 400
        assert "X-Hooks-Signature" in forged.json()["error"]["message"]
        # A proxy may say another host: the signature is over the configured public URL.
        headers = signed(url, answer) | {"Host": "proxy.internal"}
        taken = httpx.post(url, content=answer, headers=headers, timeout=5)
        assert taken.status_code == 200, taken.text
        assert taken.json()["results"][0]["outcome"] == "created"
        status = json.dumps({"type": "delivered", "id": "H-inv-1"}).encode()
        unmatched = httpx.post(url, content=status, headers=signed(url, status), timeout=5)
        assert unmatched.json()["results"][0]["reason"] == "unmatched_status"  # never sent

    async def check() -> None:
        async with SQLiteStore(tmp_path / "cx.db") as store:
            response = await store.invitation_response("inv-1")
            assert response is not None
            assert response.channel == "hooks"
            assert dict(response.answers) == {"ltr": 10}
            assert await store.count_responses() == 1

    asyncio.run(check())


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now
