"""``cxcore dispatch``: a long-running dispatcher configured by cxcore.toml and the environment.

The process test runs the real command against a real SMTP server on
loopback (aiosmtpd, STARTTLS with a trustme CA, AUTH), on a SQLite store
whose outbox already holds the invitations.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxcore import (
    Customer,
    Interaction,
    ManualClock,
    OutboundMessage,
    OutboxState,
    SendResult,
)
from cxcore.cli import main
from cxcore.deployment import Deployment, loads_deployment
from cxcore.dispatch import Outbox
from cxcore.dispatch.service import dispatch_until
from cxcore.distribution import (
    FatiguePolicy,
    FatigueState,
    RuleSet,
    TokenService,
    TriggerRule,
    decide,
)
from cxcore.ports.registry import ChannelRegistry
from cxcore.stores import SQLiteStore
from cxcore.testing import FakeChannel, sample_surveys
from tests.smtp_server import EMAIL_INSTANCE, PASSWORD, smtp_environment

SURVEY = sample_surveys()[0]
RULES = RuleSet(
    rules=[TriggerRule(id="visit_nps", touchpoint="visit", survey=SURVEY.id, channels=("email",))],
    fatigue=FatiguePolicy(recontact_days=0),
)
KEY = "k" * 32
N = 12
SRC = Path(__file__).parents[1] / "src"


async def fill_outbox(db: Path, n: int = N) -> list[str]:
    """Schedule *n* due invitations on the email channel, as cxcore's Outbox does."""
    now = datetime.now(UTC)
    clock = ManualClock(now)
    state = FatigueState()
    async with SQLiteStore(db, clock=clock) as store:
        await store.put_survey(SURVEY)
        outbox = Outbox(store, token_service(clock), clock=clock)
        addresses = []
        for i in range(n):
            customer = Customer(id=f"C-{i}", email=f"customer{i}@example.in", timezone="UTC")
            visit = Interaction(
                id=f"I-{i}", touchpoint="visit", customer_id=customer.id, occurred_at=now
            )
            decision = decide(RULES, visit, customer, state, clock)
            await outbox.schedule(decision, customer=customer, state=state)
            addresses.append(customer.email or "")
        return addresses


def token_service(clock: ManualClock) -> TokenService:
    """The token service a deployment builds from $CXCORE_TOKEN_KEYS."""
    deployment = loads_deployment(
        '[store]\nsqlite = "x.db"\n[collector]\npublic_url = "https://x.in"'
    )
    return deployment.token_service(clock, environ={"CXCORE_TOKEN_KEYS": KEY})


def outbox_states(db: Path) -> dict[OutboxState, int]:
    async def read() -> dict[OutboxState, int]:
        async with SQLiteStore(db) as store:
            items = await store.outbox()
        counts: dict[OutboxState, int] = {}
        for item in items:
            counts[item.state] = counts.get(item.state, 0) + 1
        return counts

    return asyncio.run(read())


DEPLOYMENT = (
    """
[store]
sqlite = "cx.db"

[collector]
public_url = "https://cx.example.in/r/"

[dispatch]
batch = 5
interval = 0.2
"""
    + EMAIL_INSTANCE
)


class TestDispatchCommand:
    def test_sends_the_outbox_over_starttls_then_stops_cleanly_on_sigterm(self, tmp_path, smtp):
        """Configured by cxcore.toml and the environment only: every invitation arrives; SIGTERM exits 0, nothing claimed."""
        mailbox, port, _ = smtp
        (tmp_path / "cxcore.toml").write_text(DEPLOYMENT)
        addresses = asyncio.run(fill_outbox(tmp_path / "cx.db"))
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "CXCORE_CONFIG": str(tmp_path / "cxcore.toml"),
            **smtp_environment(port),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "cxcore", "dispatch"],
            cwd=elsewhere,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while mailbox.count() < N:
                if proc.poll() is not None:
                    pytest.fail(f"cxcore dispatch ended early: {proc.communicate()[1]}")
                assert time.monotonic() < deadline, "the messages never all arrived"
                time.sleep(0.02)
            while outbox_states(tmp_path / "cx.db") != {OutboxState.SENT: N}:
                assert time.monotonic() < deadline, "the sends were never all recorded"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        assert out == ""
        assert outbox_states(tmp_path / "cx.db") == {OutboxState.SENT: N}
        recipients = sorted(r for e in mailbox.envelopes for r in e.rcpt_tos)
        assert recipients == sorted(addresses)
        assert mailbox.logins  # AUTH, which aiosmtpd allows only after STARTTLS
        message = email.message_from_bytes(
            mailbox.envelopes[0].original_content or b"", policy=email.policy.default
        )
        body = message.get_body(("plain",))
        assert body is not None
        assert "https://cx.example.in/r/" in body.get_content()
        lines = err.splitlines()
        assert any(
            "INFO cxcore.dispatch: dispatch pass: 5 claimed: 5 sent" in line for line in lines
        )
        assert "SIGTERM: stopping once the sends under way end" in err
        assert lines[-1].endswith("INFO cxcore.dispatch: dispatcher stopped")
        assert "Traceback" not in err
        assert PASSWORD not in err
        assert not any(address in err for address in addresses)  # no personal data in the log

    def test_a_second_signal_stops_at_once_and_hands_back_the_claims(self, tmp_path, smtp):
        """SIGTERM waits for the sends under way; a second one cuts them short: handed back as unknown, exit 1."""
        mailbox, port, _ = smtp
        mailbox.release.clear()
        # Closing a session cut short waits for the server, up to the timeout.
        (tmp_path / "cxcore.toml").write_text(DEPLOYMENT.replace("timeout = 5.0", "timeout = 1.0"))
        asyncio.run(fill_outbox(tmp_path / "cx.db"))
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            **smtp_environment(port),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "cxcore", "dispatch", "--config", "cxcore.toml"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while mailbox.held < 5:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the sends never reached DATA"
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None  # still waiting for the sends under way
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        finally:
            mailbox.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 1, err
        states = outbox_states(tmp_path / "cx.db")
        assert OutboxState.SENDING not in states  # nothing left claimed
        assert states[OutboxState.UNKNOWN] >= 5  # they may have reached the provider
        assert states[OutboxState.UNKNOWN] + states.get(OutboxState.PENDING, 0) == N
        assert "SIGTERM again: stopping now; sends under way are handed back" in err
        assert "claimed sends were cut short: now unknown, to be reconciled" in err
        assert "Traceback" not in err

    def test_a_bad_deployment_exits_1_with_every_problem(self, tmp_path, capsys, monkeypatch):
        """Problems of the file or the environment: exit 1, all of them, before anything starts."""
        monkeypatch.delenv("CX_SMTP_PASSWORD", raising=False)
        monkeypatch.delenv("CX_SMTP_PORT", raising=False)
        (tmp_path / "cxcore.toml").write_text(DEPLOYMENT)
        status = main(["dispatch", "--config", str(tmp_path / "cxcore.toml")])
        err = capsys.readouterr().err
        assert status == 1
        assert err.splitlines()[-3:] == [
            f"cxcore dispatch: error: {tmp_path / 'cxcore.toml'}: 2 problems:",
            "  channels.email.port_env: $CX_SMTP_PORT is not set (expected the port of the 'email' plugin)",
            "  channels.email.password_env: $CX_SMTP_PASSWORD is not set (expected the password of the 'email' plugin)",
        ]


# -- in the same process -----------------------------------------------------------------


class ClosingChannel(FakeChannel):
    """A fake provider that remembers every instance, to see each closed."""

    made: list[ClosingChannel] = []  # noqa: RUF012 - the test's record

    def __init__(self, *, base_url: str) -> None:
        super().__init__(base_url=base_url, name="email")
        self.all_sent = asyncio.Event()
        ClosingChannel.made.append(self)

    async def send(self, message: OutboundMessage) -> SendResult:
        result = await super().send(message)
        if len(self.deliveries) == N:
            self.all_sent.set()
        return result


class TestDispatchUntil:
    def test_runs_until_stopped_then_closes_everything(self, tmp_path):
        """dispatch_until sends what is due, and once stopped leaves nothing claimed and closes the channels."""
        db = tmp_path / "cx.db"
        asyncio.run(fill_outbox(db))
        deployment: Deployment = loads_deployment(
            '[store]\nsqlite = "cx.db"\n[collector]\npublic_url = "https://cx.example.in"\n'
            "[dispatch]\ninterval = 0.05\n[channels.email]\n",
            folder=tmp_path,
        )
        registry = ChannelRegistry(discover=False)
        registry.register("email", ClosingChannel)
        ClosingChannel.made.clear()

        async def scenario() -> None:
            stop = asyncio.Event()
            running = asyncio.create_task(dispatch_until(deployment, stop, registry=registry))
            await asyncio.sleep(0)  # the channel is created
            await asyncio.wait_for(ClosingChannel.made[0].all_sent.wait(), 10)
            stop.set()  # the pass under way records its ends, then all closes
            await asyncio.wait_for(running, 10)

        asyncio.run(scenario())
        (channel,) = ClosingChannel.made
        assert channel.closed
        assert outbox_states(db) == {OutboxState.SENT: N}

    def test_no_channel_is_a_problem(self, tmp_path):
        """A deployment without channels has nothing to dispatch: a DeploymentError says so."""
        deployment = loads_deployment(
            '[store]\nsqlite = "cx.db"\n[collector]\npublic_url = "https://x.in"', folder=tmp_path
        )
        with pytest.raises(Exception, match="channels: names no channel instance"):
            asyncio.run(dispatch_until(deployment, asyncio.Event()))
