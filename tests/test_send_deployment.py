"""``cxcore send`` configured by the deployment file (cxcore.toml) and the environment only.

The process tests run the real command against a real SMTP server on
loopback (aiosmtpd, STARTTLS with a trustme CA, AUTH with a password from
the environment), through cxcore's real email channel.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme

from cxcore.cli import main
from cxcore.deployment import CONFIG_VARIABLE
from cxcore.distribution import TokenPurpose, TokenService
from cxcore.ports.clock import SystemClock
from cxcore.stores import PostgresStore, SQLiteStore
from cxcore.testing import fake_channels
from tests.smtp_server import EMAIL_INSTANCE, PASSWORD, SmtpServer, free_port, smtp_environment

KEY = "k" * 32
STORE_AND_COLLECTOR = """
[store]
sqlite = "cx.db"

[collector]
public_url = "https://cx.example.in/r/"
"""
DEPLOYMENT = STORE_AND_COLLECTOR + EMAIL_INSTANCE

SURVEYS = """
[[surveys]]
id = "nps_relationship"
kind = "relationship"
title = { en = "How are we doing?" }

[[surveys.questions]]
kind = "nps"
id = "ltr"
required = true
text = { en = "How likely are you to recommend us?" }
"""

CUSTOMERS = {  # id: (email, name)
    "C-1": ("asha@example.in", "Asha Rao"),
    "C-2": ("bram@example.nl", "Bram"),
    "C-3": ("chen@example.sg", "Chen Wei"),
    "C-4": ("dara@example.ie", "Dara"),
    "C-5": ("eli@example.com", "Eli"),
}
AUDIENCE = "id,email,name,timezone\n" + "".join(
    f"{cid},{address},{name},Asia/Kolkata\n" for cid, (address, name) in CUSTOMERS.items()
)


@pytest.fixture
def ca_file(folder: Path) -> Path:
    """A CA file where the deployment's email channel reads it (the channel loads it when made)."""
    path = folder / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deployment's folder: cxcore.toml, the surveys and the audience; nothing else configured."""
    monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
    monkeypatch.delenv("CXCORE_TOKEN_KEYS", raising=False)
    (tmp_path / "cxcore.toml").write_text(DEPLOYMENT)
    (tmp_path / "surveys.toml").write_text(SURVEYS)
    (tmp_path / "customers.csv").write_text(AUDIENCE)
    return tmp_path


def send_argv(folder: Path, *extra: str) -> list[str]:
    return [
        "send",
        "--survey",
        "nps_relationship",
        "--audience",
        str(folder / "customers.csv"),
        "--definitions",
        str(folder / "surveys.toml"),
        "--campaign",
        "2026-q4",
        "--no-progress",
        *extra,
    ]


def run_send(
    folder: Path, env: dict[str, str], *extra: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m cxcore send ...`` with only *env* added to a clean environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CXCORE_", "CX_"))}
    return subprocess.run(
        [sys.executable, "-m", "cxcore", *send_argv(folder, *extra)],
        cwd=cwd or folder,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def messages(server: SmtpServer) -> list[tuple[list[str], EmailMessage]]:
    """Each message that arrived: its envelope's recipients, and the message."""
    return [
        (
            list(e.rcpt_tos),
            email.message_from_bytes(e.original_content or b"", policy=email.policy.default),
        )
        for e in server.mailbox.envelopes
    ]


def invitations_by_id(db: Path) -> dict[str, tuple[str | None, str | None]]:
    """Each stored invitation: its customer and address."""

    async def read() -> dict[str, tuple[str | None, str | None]]:
        async with SQLiteStore(db) as store:
            items = await store.outbox()
            found = {}
            for item in items:
                invitation = await store.invitation(item.invitation_id)
                found[invitation.id] = (invitation.customer_id, invitation.address)
            return found

    return asyncio.run(read())


def summary(*lines: str) -> list[str]:
    return ["cxcore send: survey 'nps_relationship', campaign '2026-q4', 5 rows", *lines]


class TestSendForReal:
    def test_every_row_arrives_addressed_right_and_a_rerun_sends_nothing_twice(self, folder, smtp):
        """Through cxcore.toml and the environment only: STARTTLS, AUTH, one message per row, then nothing twice."""
        elsewhere = folder / "elsewhere"
        elsewhere.mkdir()
        env = {
            CONFIG_VARIABLE: str(folder / "cxcore.toml"),
            "CXCORE_TOKEN_KEYS": KEY,
            **smtp_environment(smtp.port),
        }
        first = run_send(folder, env, cwd=elsewhere)
        assert (first.returncode, first.stderr) == (0, ""), first.stderr
        assert first.stdout.splitlines() == summary(
            "  sent       5",
            "  suppressed 0",
            "  deferred   0",
            "  skipped    0",
            "  failed     0",
        )
        logins = len(smtp.mailbox.logins)  # AUTH, which aiosmtpd allows only after STARTTLS
        assert logins >= 1
        assert set(smtp.mailbox.logins) == {b"surveys"}
        arrived = messages(smtp)
        assert sorted(rcpt for rcpts, _ in arrived for rcpt in rcpts) == sorted(
            address for address, _ in CUSTOMERS.values()
        )
        stored = invitations_by_id(folder / "cx.db")  # relative to cxcore.toml, not the cwd
        tokens = TokenService([KEY], clock=SystemClock())
        names = dict(CUSTOMERS.values())  # address: name
        for (rcpt,), message in arrived:
            assert message["To"] == rcpt
            assert message["From"] == "surveys@bazaar.example.in"
            assert message["Subject"] == "How are we doing?"
            body = message.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert f"Hello {names[rcpt]}," in text
            # The link is under the deployment's public URL, and its token names
            # the invitation of this very customer.
            token = re.search(r"https://cx\.example\.in/r/s/([^?\s]+)", text)
            assert token is not None
            invitation_id = tokens.verify(token.group(1), TokenPurpose.SURVEY)
            customer_id, address = stored[invitation_id]
            assert address == rcpt
            assert CUSTOMERS[customer_id or ""][0] == rcpt
        # Again, the same campaign, the file found in the current folder this time.
        del env[CONFIG_VARIABLE]
        again = run_send(folder, env)
        assert (again.returncode, again.stderr) == (0, ""), again.stderr
        assert again.stdout.splitlines() == summary(
            "  sent       0",
            "  suppressed 0",
            "  deferred   0",
            "  skipped    5",
            "      5 x invited by an earlier run of campaign '2026-q4'",
            "  failed     0",
        )
        assert smtp.mailbox.count() == 5
        assert len(smtp.mailbox.logins) == logins  # not even a session again
        for done in (first, again):
            assert PASSWORD not in done.stdout + done.stderr

    def test_a_row_that_fails_is_named_and_the_others_arrive(self, folder, smtp):
        """Per-row errors keep their row, column and value; the good rows are sent; exit 1."""
        (folder / "customers.csv").write_text(AUDIENCE + "C-6,not-an-address,,Asia/Kolkata\n")
        env = {"CXCORE_TOKEN_KEYS": KEY, **smtp_environment(smtp.port)}
        done = run_send(folder, env)
        assert done.returncode == 1
        assert done.stderr == (
            f"{folder / 'customers.csv'}: row 7, column 'email': 'not-an-address' "
            "is not an email address\n"
        )
        assert "  sent       5\n" in done.stdout
        assert smtp.mailbox.count() == 5


class TestABadDeployment:
    def test_the_files_problems_all_at_once(self, folder):
        """Secrets written in the file and other mistakes: all listed, exit 1, no secret, no traceback, nothing written."""
        (folder / "cxcore.toml").write_text(
            DEPLOYMENT.replace(
                'sqlite = "cx.db"', 'sqlite = "cx.db"\ndsn = "postgresql://cx:pg-hunter2@db/cx"'
            )
            .replace('public_url = "https://cx.example.in/r/"', 'public_url = "cx.example.in"')
            .replace('password_env = "CX_SMTP_PASSWORD"', f'password = "{PASSWORD}"')
        )
        done = run_send(folder, {"CXCORE_TOKEN_KEYS": KEY})
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr.splitlines() == [
            "cxcore send: error: cxcore.toml: 3 problems:",
            "  store.dsn: would put the database password in the file: set postgres_env to the name of the environment variable that holds the DSN (the value is not shown)",
            "  collector.public_url: 'cx.example.in' is not an absolute http or https URL (expected e.g. 'https://cx.example.in')",
            '  channels.email.password: is a secret, and secrets never go in the file: put it in an environment variable and name that variable with password_env = "VAR" (the value is not shown)',
        ]
        assert "hunter2" not in done.stderr
        assert "Traceback" not in done.stderr
        assert not (folder / "cx.db").exists()

    def test_the_environments_problems_all_at_once(self, folder):
        """Unset variables and a short key: all listed by their place in the file, exit 1, no value shown."""
        done = run_send(folder, {"CXCORE_TOKEN_KEYS": f"{KEY},short-secret-key"})
        assert (done.returncode, done.stdout) == (1, "")
        assert done.stderr.splitlines() == [
            "cxcore send: error: cxcore.toml: 3 problems:",
            "  tokens.keys_env: $CXCORE_TOKEN_KEYS: keys[1]: is 16 bytes long (expected at least 32)",
            "  channels.email.port_env: $CX_SMTP_PORT is not set (expected the port of the 'email' plugin)",
            "  channels.email.password_env: $CX_SMTP_PASSWORD is not set (expected the password of the 'email' plugin)",
        ]
        assert "short-secret-key" not in done.stderr
        assert "Traceback" not in done.stderr
        assert not (folder / "cx.db").exists()

    def test_the_file_first_then_its_environment(self, folder, capsys, monkeypatch):
        """A secret in the file and an unset variable: the file's problems first, then, once fixed, the environment's."""
        monkeypatch.chdir(folder)
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        with_secret = DEPLOYMENT.replace(
            'password_env = "CX_SMTP_PASSWORD"', f'password = "{PASSWORD}"'
        )
        (folder / "cxcore.toml").write_text(with_secret)  # and $CX_SMTP_PORT is not set
        assert main(send_argv(folder)) == 1
        err = capsys.readouterr().err
        assert err.splitlines() == [
            "cxcore send: error: cxcore.toml: 1 problem:",
            '  channels.email.password: is a secret, and secrets never go in the file: put it in an environment variable and name that variable with password_env = "VAR" (the value is not shown)',
        ]
        assert PASSWORD not in err
        (folder / "cxcore.toml").write_text(DEPLOYMENT)
        assert main(send_argv(folder)) == 1
        assert capsys.readouterr().err.splitlines() == [
            "cxcore send: error: cxcore.toml: 2 problems:",
            "  channels.email.port_env: $CX_SMTP_PORT is not set (expected the port of the 'email' plugin)",
            "  channels.email.password_env: $CX_SMTP_PASSWORD is not set (expected the password of the 'email' plugin)",
        ]
        assert not (folder / "cx.db").exists()

    @pytest.mark.parametrize(
        ("how", "message"),
        [
            ("--config", "--config: '{missing}': no such deployment file"),
            (CONFIG_VARIABLE, "$CXCORE_CONFIG: '{missing}': no such deployment file"),
            ("folder", "--config: '{folder}': cannot open: Is a directory"),
        ],
    )
    def test_a_named_file_that_cannot_be_opened_exits_2(
        self, folder, capsys, monkeypatch, how, message
    ):
        """A deployment file named by --config or $CXCORE_CONFIG must be there: exit 2, nothing written."""
        monkeypatch.chdir(folder)
        missing = str(folder / "missing.toml")
        extra: list[str] = []
        if how == CONFIG_VARIABLE:
            monkeypatch.setenv(CONFIG_VARIABLE, missing)
        else:
            extra = ["--config", missing if how == "--config" else str(folder)]
        assert main(send_argv(folder, *extra)) == 2
        err = capsys.readouterr().err
        assert err == f"cxcore send: error: {message.format(missing=missing, folder=folder)}\n"
        assert not (folder / "cx.db").exists()

    def test_store_beside_a_deployment_file_is_refused(self, folder, capsys, monkeypatch):
        """The deployment file names the store: --store as well is a usage error, exit 2."""
        monkeypatch.chdir(folder)
        assert main(send_argv(folder, "--store", "other.db")) == 2
        assert capsys.readouterr().err == (
            "cxcore send: error: --store: the deployment file cxcore.toml names the store "
            "([store]); drop --store, or send without a deployment file\n"
        )
        assert not (folder / "other.db").exists()
        assert not (folder / "cx.db").exists()

    def test_channel_must_be_one_of_the_files_instances(self, folder, ca_file, capsys, monkeypatch):
        """--channel names an instance of the file: another is a usage error listing them, exit 2."""
        monkeypatch.chdir(folder)
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        for name, value in smtp_environment(2525).items():
            monkeypatch.setenv(name, value)
        assert main(send_argv(folder, "--channel", "sms")) == 2
        assert capsys.readouterr().err == (
            "cxcore send: error: --channel: 'sms' is not a channel instance of cxcore.toml "
            "(it has: email)\n"
        )

    def test_a_file_with_no_channel_has_nothing_to_send_on(self, folder, capsys, monkeypatch):
        """No [channels.*] table: a problem of the file, exit 1."""
        monkeypatch.chdir(folder)
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        (folder / "cxcore.toml").write_text(STORE_AND_COLLECTOR)
        assert main(send_argv(folder)) == 1
        assert capsys.readouterr().err == (
            "cxcore send: error: cxcore.toml: 1 problem:\n"
            "  channels: names no channel instance: there is nothing to send on\n"
        )
        assert not (folder / "cx.db").exists()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that listens and never accepts: whatever connects to it waits there."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.2)
        yield server


def connected(listener: socket.socket) -> bool:
    """Whether anything connected to *listener*."""
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


class TestDryRun:
    def test_writes_nothing_and_connects_to_nothing(
        self, folder, ca_file, listener, capsys, monkeypatch
    ):
        """The real email channel, a SQLite store not there yet: decided and summed up; no file, no connection."""
        monkeypatch.chdir(folder)
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        monkeypatch.setenv("CX_SMTP_PORT", str(listener.getsockname()[1]))
        monkeypatch.setenv("CX_SMTP_PASSWORD", PASSWORD)
        before = sorted(p.name for p in folder.iterdir())
        assert main(send_argv(folder, "--dry-run")) == 0
        out, err = capsys.readouterr()
        assert err == ""
        assert out.splitlines()[:2] == [
            "cxcore send: survey 'nps_relationship', campaign '2026-q4', 5 rows (dry run: nothing stored or sent)",
            "  would send 5",
        ]
        assert sorted(p.name for p in folder.iterdir()) == before
        assert not connected(listener)

    def test_reads_no_postgresql_store(self, folder, listener, capsys, monkeypatch):
        """A PostgreSQL store is not connected to on a dry run: the surveys come from --definitions."""
        monkeypatch.chdir(folder)
        port = listener.getsockname()[1]
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        monkeypatch.setenv("CX_DSN", f"postgresql://cx:pg-hunter2@127.0.0.1:{port}/cx")
        (folder / "cxcore.toml").write_text(
            STORE_AND_COLLECTOR.replace('sqlite = "cx.db"', 'postgres_env = "CX_DSN"')
            + "[channels.email]\n"
        )
        with fake_channels(["email"]) as sent:
            assert main(send_argv(folder, "--dry-run")) == 0
        assert "  would send 5\n" in capsys.readouterr().out
        assert sent == []
        assert not connected(listener)


class TestWithoutADeploymentFile:
    def test_the_real_email_channel_needs_one(self, folder, capsys, monkeypatch):
        """No cxcore.toml: --store and $CXCORE_TOKEN_KEYS serve, but the email channel needs options: exit 2, nothing stored."""
        (folder / "cxcore.toml").unlink()
        monkeypatch.chdir(folder)
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        assert main(send_argv(folder, "--channel", "email", "--store", "cx.db")) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            "cxcore send: error: channel 'email' cannot be created without options (TypeError: "
        )
        assert "'base_url' and 'sender'" in err
        assert err.endswith(
            "): describe its instance in a deployment file, cxcore.toml (--config PATH, or "
            "$CXCORE_CONFIG), or choose another with --channel\n"
        )
        assert not (folder / "cx.db").exists()

    def test_store_and_keys_as_before(self, folder, capsys, monkeypatch):
        """No deployment file anywhere: --store is the SQLite store, $CXCORE_TOKEN_KEYS the keys."""
        (folder / "cxcore.toml").unlink()
        monkeypatch.chdir(folder)
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        with fake_channels() as sent:  # every installed one: email and sms need options
            assert main(send_argv(folder, "--store", "mine.db")) == 0
        assert "  sent       5\n" in capsys.readouterr().out
        assert len(sent) == 5
        assert (folder / "mine.db").exists()


class TestPostgreSQL:
    def test_the_store_named_by_the_environment(self, folder, postgres_dsn, capsys, monkeypatch):
        """postgres_env names the DSN's variable: invitations go there, and a re-run sends nothing twice."""
        monkeypatch.chdir(folder)
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        monkeypatch.setenv("CX_DSN", postgres_dsn)
        (folder / "cxcore.toml").write_text(
            STORE_AND_COLLECTOR.replace('sqlite = "cx.db"', 'postgres_env = "CX_DSN"')
            + "[channels.email]\n"
        )
        with fake_channels(["email"]) as sent:
            assert main(send_argv(folder)) == 0
            assert main(send_argv(folder)) == 0
        first, again = capsys.readouterr().out.split("cxcore send:")[1:]
        assert "  sent       5\n" in first
        assert "  sent       0\n" in again
        assert "      5 x invited by an earlier run of campaign '2026-q4'\n" in again
        assert len(sent) == 5

        async def states() -> list[str]:
            async with PostgresStore(postgres_dsn) as store:
                return [item.state.value for item in await store.outbox()]

        assert asyncio.run(states()) == ["sent"] * 5
        assert not (folder / "cx.db").exists()

    def test_a_store_that_cannot_be_reached_exits_2_without_its_password(
        self, folder, capsys, monkeypatch
    ):
        """No server there: exit 2, naming where the store is set; the DSN's password never shown."""
        monkeypatch.chdir(folder)
        port = free_port()  # nothing listens there
        monkeypatch.setenv("CXCORE_TOKEN_KEYS", KEY)
        monkeypatch.setenv("CX_DSN", f"postgresql://cx:pg-hunter2@127.0.0.1:{port}/cx")
        (folder / "cxcore.toml").write_text(
            STORE_AND_COLLECTOR.replace('sqlite = "cx.db"', 'postgres_env = "CX_DSN"')
            + "[channels.email]\n"
        )
        with fake_channels(["email"]) as sent:
            assert main(send_argv(folder)) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            "cxcore send: error: cxcore.toml: store.postgres_env: cannot open the PostgreSQL "
            f"store (DSN from $CX_DSN): cannot connect to PostgreSQL at cx@127.0.0.1:{port}/cx: "
        )
        assert err.count("\n") == 1  # one line, whatever the driver says
        assert "hunter2" not in err
        assert sent == []
