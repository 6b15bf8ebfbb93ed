"""A pool of long-lived SMTP connections over aiosmtplib.

Opening an SMTP session (TCP, greeting, EHLO, STARTTLS, AUTH) costs more than
sending a message over one, so the pool keeps up to ``size`` sessions open and
reuses them:

* a session the server dropped while idle is reopened, and the message is
  sent on the new one (nothing had been sent on the old one);
* a session is closed after ``max_messages`` messages, and a new one opened;
* SMTP replies become :class:`~cxcore.SendError` values that say what to do:
  4xx is retryable, 5xx to ``RCPT`` suppresses the address, and a connection
  lost or timed out after ``DATA`` was sent is ambiguous (the server may have
  accepted the message).

aiosmtplib is imported on first use: rendering and previews work without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Literal

import attrs

from cxcore import ChannelClosedError, SendError
from cxcore_channels.email.errors import EmailConfigError
from cxcore_channels.email.mime import is_plain_address, mask_address

if TYPE_CHECKING:
    import aiosmtplib
    from aiosmtplib import SMTPResponse

__all__ = ["PoolDelivery", "SmtpPool", "TlsMode", "transparent_data"]

log = logging.getLogger("cxcore.channels.email")

TlsMode = Literal["starttls", "implicit", "none"]
"""How the connection is secured: STARTTLS upgrade (required), TLS from the start, or not at all."""

_TLS_MODES: Final = ("starttls", "implicit", "none")


@attrs.frozen
class PoolDelivery:
    """What the server said to one message.

    Attributes:
        accepted: The recipients the server accepted.
        refused: The recipients it refused, with its code and words.
        reply: Its reply to ``DATA`` (``250 2.0.0 Ok: queued as ...``).

    .. versionadded:: 0.1.0
    """

    accepted: tuple[str, ...] = attrs.field(repr=lambda v: f"<{len(v)} addresses>")
    refused: dict[str, tuple[int, str]] = attrs.field(repr=lambda v: f"<{len(v)} addresses>")
    reply: str


@attrs.define(eq=False)  # compared by identity: each is one live session
class _Session:
    smtp: aiosmtplib.SMTP
    sent: int = 0


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


class SmtpPool:
    """Up to *size* long-lived SMTP sessions to one server.

    Args:
        host: The server.
        port: Its port (default: 465 for implicit TLS, 587 for STARTTLS, 25 otherwise).
        tls: ``"starttls"`` (the default; the upgrade is required),
            ``"implicit"`` (TLS from the first byte) or ``"none"``.
        tls_context: The TLS context; the default verifies the certificate
            against the system's trust store. Verification is never turned off.
        username: For AUTH, with *password*.
        password: For AUTH.
        size: The most sessions open at once.
        max_messages: Messages per session before it is closed and replaced.
        timeout: Seconds to wait for the server at each step: connecting,
            ``MAIL``, each ``RCPT``, then ``DATA`` with the message.
        local_hostname: The name given in EHLO.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        host: str,
        port: int | None = None,
        tls: TlsMode = "starttls",
        tls_context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        size: int = 10,
        max_messages: int = 100,
        timeout: float = 30.0,
        local_hostname: str = "localhost",
    ) -> None:
        if tls not in _TLS_MODES:
            msg = f"tls: {tls!r} is not one of {', '.join(map(repr, _TLS_MODES))}"
            raise EmailConfigError(msg)
        if (username is None) != (password is None):
            msg = "username and password: give both for AUTH, or neither"
            raise EmailConfigError(msg)
        for name, value in (("size", size), ("max_messages", max_messages)):
            if not isinstance(value, int) or value < 1:  # type: ignore[redundant-expr] # callers may pass anything
                msg = f"{name}: {value!r} is not a whole number of 1 or more"
                raise EmailConfigError(msg)
        if timeout <= 0:
            msg = f"timeout: {timeout!r} is not a positive number of seconds"
            raise EmailConfigError(msg)
        self.host = host
        self.port = port or {"implicit": 465, "starttls": 587, "none": 25}[tls]
        self.tls = tls
        self.size = size
        self.max_messages = max_messages
        self.timeout = timeout
        self._tls_context = tls_context
        self._username = username
        self._password = password
        self._local_hostname = local_hostname
        self._idle: list[_Session] = []
        self._busy: set[_Session] = set()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False
        self.opened = 0
        """How many sessions were opened so far (for tests and metrics)."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def __repr__(self) -> str:
        auth = ", auth" if self._username is not None else ""
        return (
            f"SmtpPool({self.host}:{self.port}, tls={self.tls}{auth}, size={self.size}, "
            f"idle={len(self._idle)}, busy={len(self._busy)})"
        )

    async def _open(self) -> _Session:
        import aiosmtplib  # noqa: PLC0415 - an optional dependency, needed on first send

        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "implicit",
            start_tls=self.tls == "starttls",
            validate_certs=True,
            tls_context=self._tls_context,
            username=self._username,
            password=self._password,
            timeout=self.timeout,
            local_hostname=self._local_hostname,
        )
        where = f"SMTP server {self.host}:{self.port}"
        try:
            await smtp.connect()
            await self._greet(smtp)
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            msg = f"{where} refused the credentials: {_reply(exc.code, exc.message)}"
            raise SendError(msg, code=str(exc.code)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            msg = f"{where} refused the session: {_reply(exc.code, exc.message)}"
            raise SendError(msg, retryable=exc.code < 500, code=str(exc.code)) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            # Connection refused, TLS failures (a certificate that does not verify)...
            msg = f"cannot open a session with {where}: {type(exc).__name__}: {exc}"
            retryable = not isinstance(exc, ssl.SSLError | aiosmtplib.SMTPNotSupported)
            raise SendError(msg, retryable=retryable) from exc
        self.opened += 1
        return _Session(smtp)

    async def _greet(self, smtp: aiosmtplib.SMTP) -> None:
        """EHLO (or HELO, if EHLO is refused), once a session: MAIL needs it first."""
        import aiosmtplib  # noqa: PLC0415

        if not smtp.is_ehlo_or_helo_needed:
            return  # done on connect (STARTTLS, AUTH)
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not smtp.is_connected:
                raise
            await smtp.helo()

    async def _close(self, session: _Session) -> None:
        smtp = session.smtp
        if smtp.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smtp.quit(), timeout=min(self.timeout, 5.0))
        smtp.close()

    async def send(
        self, sender: str, recipients: Sequence[str], data: bytes | Callable[[], bytes]
    ) -> PoolDelivery:
        """Send *data* from the envelope *sender* to *recipients*.

        Args:
            sender: The envelope sender (``MAIL FROM``).
            recipients: The envelope recipients (``RCPT TO``).
            data: The message, or a function that builds it. The function is
                called once a session is free, so that many concurrent sends
                build their messages while others are on the wire, rather
                than all before the first goes out; what it raises, ``send``
                raises.

        Returns:
            Which recipients were accepted and which refused, when at least one was accepted.

        Raises:
            SendError: If no recipient was accepted or the message was not taken.
            ChannelClosedError: After :meth:`aclose`.
        """
        if self._closed:
            msg = "the SMTP pool is closed"
            raise ChannelClosedError(msg)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            if callable(data):
                data = data()
            session = self._idle.pop() if self._idle else None
            try:
                session = await self._mail(session, sender)
            except BaseException:
                if session is not None:
                    await self._close(session)
                raise
            self._busy.add(session)
            try:
                outcome = await self._transaction(session, recipients, data)
            except BaseException:
                self._busy.discard(session)
                await self._close(session)
                raise
            self._busy.discard(session)
            reusable = session.smtp.is_connected and session.sent < self.max_messages
            if reusable and not self._closed:
                self._idle.append(session)
            else:
                await self._close(session)
            if isinstance(outcome, SendError):
                raise outcome
            return outcome

    async def _mail(self, session: _Session | None, sender: str) -> _Session:
        """Start a transaction, on a fresh session if the idle one was dropped."""
        try:
            import aiosmtplib  # noqa: PLC0415 - an optional dependency, needed on first send
        except ModuleNotFoundError as exc:
            # Nothing was sent, and nothing will be until it is installed: the send is put
            # back with this message, never taken for one the server may have accepted.
            from cxcore.scoring import MissingDependencyError  # noqa: PLC0415 - only on failure

            missing = MissingDependencyError("aiosmtplib", "sending email over SMTP")
            raise SendError(str(missing), retryable=True) from exc

        for attempt in range(2):
            fresh = session is None or not session.smtp.is_connected
            if session is not None and fresh:
                await self._close(session)
            if session is None or fresh:
                session = await self._open()
            try:
                async with asyncio.timeout(self.timeout):
                    response = await _envelope(session.smtp, b"MAIL", sender)
            except (aiosmtplib.SMTPServerDisconnected, TimeoutError) as exc:
                # Nothing was sent: reopen once, then give up (retryable).
                session.smtp.close()  # after a timeout it is out of step with the server
                await self._close(session)
                session = None
                if attempt == 1:
                    msg = f"the SMTP server dropped the session before MAIL: {self._lost(exc)}"
                    raise SendError(msg, retryable=True) from exc
                log.info("SMTP session to %s:%s was dropped; reopening", self.host, self.port)
                continue
            if response.code != _OK:
                await self._close(session)
                msg = f"the server refused the sender: {_reply(*response)}"
                code = response.code
                raise SendError(msg, retryable=code < 500, code=str(code))
            return session
        raise AssertionError("unreachable")  # pragma: no cover

    def _lost(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError) and not str(exc):
            return f"no reply within {self.timeout} s"
        return str(exc) or type(exc).__name__

    async def _reset(self, session: _Session) -> None:
        with contextlib.suppress(Exception):
            await session.smtp.rset()

    async def _transaction(
        self, session: _Session, recipients: Sequence[str], data: bytes
    ) -> PoolDelivery | SendError:
        """Send RCPT and DATA; a refusal the session survives is returned, not raised.

        One timeout scope covers the transaction, moved on after each step
        (each RCPT; DATA with the message), rather than one timer per reply.
        """
        import aiosmtplib  # noqa: PLC0415

        smtp = session.smtp
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        loop = asyncio.get_running_loop()
        data_sent = False
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                for rcpt in recipients:
                    reply = await _envelope(smtp, b"RCPT", rcpt)
                    if reply.code in _RCPT_OK:
                        accepted.append(rcpt)
                    else:
                        refused[rcpt] = (reply.code, reply.message)
                    deadline.reschedule(loop.time() + self.timeout)
                if accepted:
                    data_sent = True
                    response = await _data(smtp, data)
        except aiosmtplib.SMTPDataError as exc:
            await self._reset(session)
            msg = f"the SMTP server refused the message: {_reply(exc.code, exc.message)}"
            return SendError(msg, retryable=exc.code < 500, code=str(exc.code))
        except (aiosmtplib.SMTPServerDisconnected, TimeoutError) as exc:
            smtp.close()  # after a timeout it is out of step with the server
            if not data_sent:
                msg = f"the SMTP server dropped the session before DATA: {self._lost(exc)}"
                raise SendError(msg, retryable=True) from exc
            msg = (
                "the SMTP session was lost after the message was sent, before the server's "
                f"reply: it may have been accepted ({type(exc).__name__})"
            )
            raise SendError(msg, ambiguous=True) from exc
        if not accepted:
            await self._reset(session)
            return _refusal(refused)
        session.sent += 1
        return PoolDelivery(
            accepted=tuple(accepted), refused=refused, reply=_reply(response.code, response.message)
        )

    async def aclose(self) -> None:
        """Close every idle session; busy ones close when their message is done. Idempotent."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._close(s) for s in idle))


_OK: Final = 250
_START_INPUT: Final = 354
_RCPT_OK: Final = frozenset({250, 251})


async def _envelope(smtp: aiosmtplib.SMTP, verb: bytes, address: str) -> SMTPResponse:
    """Send ``MAIL FROM`` or ``RCPT TO`` for *address*; return the reply, whatever its code.

    A plain address goes on the line as it is (it holds nothing to quote or
    to inject); any other is quoted and checked by aiosmtplib. No timeout of
    its own: the caller's scope has one.
    """
    import aiosmtplib  # noqa: PLC0415

    if is_plain_address(address):
        keyword = b"FROM:<" if verb == b"MAIL" else b"TO:<"
        argument = keyword + address.encode("ascii") + b">"
        return await smtp.execute_command(verb, argument, timeout=None)
    try:
        if verb == b"MAIL":
            return await smtp.mail(address, timeout=None)
        return await smtp.rcpt(address, timeout=None)
    except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPRecipientRefused) as exc:
        return aiosmtplib.SMTPResponse(exc.code, exc.message)


def transparent_data(data: bytes) -> bytes | None:
    r"""*data* as it goes after ``DATA``, if it is already canonical, else None.

    Canonical: every line ends in CRLF, and there is no other CR or LF (what
    :func:`~cxcore_channels.email.mime.build_message` writes). Then only the
    dots that start a line are doubled, and the ending ``.\r\n`` added
    (RFC 5321 4.5.2). A bare CR or LF, which servers read in different ways
    (the trick behind SMTP smuggling), gives None: such data is sent through
    aiosmtplib, which rewrites every line ending first.

    >>> transparent_data(b"Subject: x\r\n\r\n.hidden\r\n")
    b'Subject: x\r\n\r\n..hidden\r\n.\r\n'
    >>> transparent_data(b"Subject: x\r\n\r\nbare\n.\r\n") is None
    True
    """
    crlf = data.count(b"\r\n")
    if not data.endswith(b"\r\n") or data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        return None
    body = data.replace(b"\r\n.", b"\r\n..")
    if body.startswith(b"."):
        body = b"." + body
    return body + b".\r\n"


async def _data(smtp: aiosmtplib.SMTP, data: bytes) -> SMTPResponse:
    """Send ``DATA`` and the message; return the server's reply to the message.

    ``SMTP.data`` rewrites every line ending with one regular expression, then
    doubles leading dots with another: together about as much as building the
    message (some 70 us for 10 KB). Canonical data, as the channel builds it,
    needs neither: :func:`transparent_data` checks it and doubles its leading
    dots with three counts and one replace (some 20 us), and it is written to
    the session's protocol with the same checks of the replies as
    ``SMTP.data``. Other data goes through ``SMTP.data``. No timeout
    of its own: the caller's scope has one.

    ``SMTP.protocol`` with its ``write`` and ``read_response`` is aiosmtplib's
    own layer under ``SMTP.data``, not documented API: the tests send through
    it to a real aiosmtpd (dots, bare line endings, refusals, timeouts).

    Raises:
        aiosmtplib.SMTPDataError: If the server does not answer 354 to DATA
            or 250 to the message.
        aiosmtplib.SMTPServerDisconnected: If the session is lost.
    """
    import aiosmtplib  # noqa: PLC0415

    protocol = smtp.protocol
    body = transparent_data(data)
    if protocol is None or body is None:
        return await smtp.data(data, timeout=None)
    protocol.write(b"DATA\r\n")
    start = await protocol.read_response(timeout=None)
    if start.code != _START_INPUT:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol.write(body)
    response = await protocol.read_response(timeout=None)
    if response.code != _OK:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


def _refusal(refused: dict[str, tuple[int, str]]) -> SendError:
    codes = sorted({code for code, _ in refused.values()})
    detail = "; ".join(
        f"{mask_address(rcpt)}: {_reply(code, text)}" for rcpt, (code, text) in refused.items()
    )
    temporary = any(code < 500 for code in codes)
    return SendError(
        f"the SMTP server refused every recipient ({detail})",
        retryable=temporary,
        suppress=not temporary,
        code=str(codes[0]) if codes else None,
    )
