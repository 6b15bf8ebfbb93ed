"""A real SMTP server on loopback for the commands' tests: aiosmtpd with STARTTLS and AUTH.

The ``smtp`` fixture (in ``conftest.py``) runs one per test. The server
requires STARTTLS, with a certificate from a throwaway trustme CA, then AUTH
as :data:`USERNAME` with :data:`PASSWORD`; it keeps every message it accepts.
:data:`EMAIL_INSTANCE` is the deployment file's table for cxcore's email
channel sending through it, and :func:`smtp_environment` the environment
variables that table names.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

__all__ = [
    "EMAIL_INSTANCE",
    "PASSWORD",
    "USERNAME",
    "Mailbox",
    "SmtpServer",
    "free_port",
    "serve_smtp",
    "smtp_environment",
]

USERNAME = "surveys"
PASSWORD = "smtp-hunter2-secret"

EMAIL_INSTANCE = """
[channels.email]
sender = "surveys@bazaar.example.in"
host = "127.0.0.1"
port_env = "CX_SMTP_PORT"
tls = "starttls"
tls_ca_file = "ca.pem"
username = "surveys"
password_env = "CX_SMTP_PASSWORD"
timeout = 5.0
"""
"""The email channel through the test server: its CA is ``ca.pem`` beside the deployment file."""


def smtp_environment(port: int) -> dict[str, str]:
    """The variables :data:`EMAIL_INSTANCE` names: the server's port, and the password."""
    return {"CX_SMTP_PORT": str(port), "CX_SMTP_PASSWORD": PASSWORD}


class Mailbox:
    """An aiosmtpd handler that keeps every message (from the server's thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.envelopes: list[Envelope] = []
        self.logins: list[bytes] = []
        self.held = 0
        self.release = threading.Event()
        self.release.set()

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook
        """Keep the message; or, while :attr:`release` is clear, hold it, then refuse it."""
        if not self.release.is_set():  # a provider that takes the message, then never answers
            with self.lock:
                self.held += 1
            await asyncio.to_thread(self.release.wait)
            return "451 4.3.0 try again later"
        with self.lock:
            self.envelopes.append(envelope)
        return "250 2.0.0 OK: queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        """Let in :data:`USERNAME` with :data:`PASSWORD` only."""
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        if ok:
            with self.lock:
                self.logins.append(auth_data.login)
        return AuthResult(success=ok, handled=False)

    def count(self) -> int:
        """How many messages arrived."""
        with self.lock:
            return len(self.envelopes)


class SmtpServer(NamedTuple):
    """A running server: its mailbox, its port, and the CA file that trusts its certificate."""

    mailbox: Mailbox
    port: int
    ca_file: Path


def free_port() -> int:
    """A loopback port free now (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_smtp(folder: Path) -> Iterator[SmtpServer]:
    """Run a mailbox on loopback that requires STARTTLS and AUTH; its CA goes in ``folder/ca.pem``."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        authenticator=mailbox.authenticate,
    )
    controller.start()
    try:
        yield SmtpServer(mailbox, port, ca_file)
    finally:
        controller.stop()
