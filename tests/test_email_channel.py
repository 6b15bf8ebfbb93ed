"""The email channel against a real aiosmtpd on loopback: plain, STARTTLS, AUTH, the pool."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import ssl
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import attrs
import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from hypothesis import given
from hypothesis import strategies as st

from cxcore import (
    AnswersReceived,
    AnswerValue,
    ChannelClosedError,
    InboundRequest,
    Invitation,
    OutboundMessage,
    SendError,
    Survey,
)
from cxcore.testing import (
    SAMPLE_TIME,
    ChannelConformance,
    ChannelHarness,
    sample_invitation,
    sample_surveys,
)
from cxcore_channels.email import EmailChannel, EmailConfigError, verp_decode
from cxcore_channels.email.pool import transparent_data

BASE = "https://cx.example.in/r"
SENDER = "surveys@bazaar.example.in"
BOUNCES = "bounces@mail.bazaar.example.in"


# -- a real SMTP server on loopback ----------------------------------------------------


class Sink:
    """An aiosmtpd handler that keeps what arrives, and can refuse on purpose."""

    def __init__(
        self,
        *,
        rcpt_replies: Mapping[str, str] | None = None,
        data_reply: str | None = None,
        hold_data: asyncio.Event | None = None,
        hold_mail: asyncio.Event | None = None,
        delays: Mapping[str, float] | None = None,
    ) -> None:
        self.envelopes: list[Envelope] = []
        self.rcpt_replies = dict(rcpt_replies or {})
        self.data_reply = data_reply
        self.hold_data = hold_data
        self.hold_mail = hold_mail
        self.delays = dict(delays or {})  # seconds before answering MAIL, RCPT or DATA
        self.mail_commands = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 - aiosmtpd hook
        self.mail_commands += 1
        if self.hold_mail is not None:
            await self.hold_mail.wait()
        await asyncio.sleep(self.delays.get("MAIL", 0.0))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        await asyncio.sleep(self.delays.get("RCPT", 0.0))
        envelope.rcpt_options.extend(rcpt_options)
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        if self.hold_data is not None:
            await self.hold_data.wait()
        await asyncio.sleep(self.delays.get("DATA", 0.0))
        if self.data_reply is not None:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 2.0.0 OK: queued"

    async def recipients(self) -> list[str | None]:
        return [r for e in self.envelopes for r in e.rcpt_tos]

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw(e), policy=email.policy.default) for e in self.envelopes
        ]


def raw(envelope: Envelope) -> bytes:
    content = envelope.original_content or envelope.content
    assert isinstance(content, bytes)
    return content


class Server:
    def __init__(self, port: int, sessions: list[SMTP]) -> None:
        self.port = port
        self.sessions = sessions

    def drop_all(self) -> None:
        """Close every session from the server's side, as an idle timeout would."""
        for smtp in self.sessions:
            if smtp.transport is not None:
                smtp.transport.close()


@contextlib.asynccontextmanager
async def smtp_server(
    handler: Any,
    *,
    tls: ssl.SSLContext | None = None,
    server_class: type[SMTP] = SMTP,
    **kwargs: Any,
) -> AsyncIterator[Server]:
    """Serve *handler* with aiosmtpd on 127.0.0.1, on the running loop."""
    loop = asyncio.get_running_loop()
    sessions: list[SMTP] = []

    def factory() -> SMTP:
        smtp = server_class(handler, hostname="mx.test", **kwargs)
        sessions.append(smtp)
        return smtp

    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=tls)
    try:
        yield Server(server.sockets[0].getsockname()[1], sessions)
    finally:
        server.close()
        for smtp in sessions:
            if smtp.transport is not None:
                smtp.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the sessions' tasks see the close


def make_channel(port: int, **kwargs: Any) -> EmailChannel:
    settings: dict[str, Any] = {
        "base_url": BASE,
        "sender": SENDER,
        "sender_name": "Bazaar Online",
        "bounce_address": BOUNCES,
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "timeout": 5.0,
    }
    settings.update(kwargs)
    return EmailChannel(**settings)


def invitation_for(survey_index: int = 0, **kwargs: Any) -> tuple[Invitation, Survey]:
    survey = sample_surveys()[survey_index]
    return sample_invitation(survey, channel="email", **kwargs), survey


# -- the conformance suite -------------------------------------------------------------


class TestEmailConformance(ChannelConformance):
    channel_name = "email"
    address = "asha@example.in"

    @contextlib.asynccontextmanager
    async def open_channel(self) -> AsyncIterator[ChannelHarness]:
        sink = Sink()
        async with smtp_server(sink) as server:
            channel = make_channel(server.port)
            try:
                yield ChannelHarness(channel, delivered=sink.recipients)
            finally:
                await channel.aclose()

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest | None:
        ((question, value),) = answers.items()
        text = message.parts["text/plain"]
        match = re.search(rf"https://\S+\?q\.{question}={value}(?=\s)", text)
        assert match, f"no one-click link for {question}={value} in the text part"
        return InboundRequest(method="GET", url=match.group(0))


# -- what arrives ------------------------------------------------------------------------


class TestWhatArrives:
    def test_message_structure_headers_and_envelope(self):
        """The server receives text, AMP, HTML in that order, with unsubscribe headers and VERP."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port)
                invitation, survey = invitation_for(0, locale="hi")
                message = channel.render(invitation, survey)
                result = await channel.send(message)
                await channel.aclose()
            (envelope,) = sink.envelopes
            assert envelope.rcpt_tos == ["asha@example.in"]
            assert envelope.mail_from is not None
            tag = verp_decode(envelope.mail_from.partition("+")[2].partition("@")[0])
            assert tag == (invitation.id, 0)
            assert envelope.mail_from.endswith("@mail.bazaar.example.in")
            (arrived,) = sink.messages()
            assert arrived.get_content_type() == "multipart/alternative"
            types = [p.get_content_type() for p in arrived.iter_parts()]
            assert types == ["text/plain", "text/x-amp-html", "text/html"]
            for part in arrived.iter_parts():
                # Text travels in canonical form (CRLF line breaks), whatever the encoding.
                sent = message.parts[part.get_content_type()].replace("\r\n", "\n")
                assert part.get_content().replace("\r\n", "\n") == sent
            assert str(arrived["Subject"]) == "हम कैसा कर रहे हैं?"
            assert str(arrived["From"]) == "Bazaar Online <surveys@bazaar.example.in>"
            assert str(arrived["To"]) == "asha@example.in"
            assert (
                arrived["List-Unsubscribe"]
                == "<https://cx.example.in/r/u/tok.sample.0001.unsubscribe>"
            )
            assert arrived["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert arrived["Message-ID"] == f"<{result.provider_id}>"
            assert result.detail is not None
            assert result.detail.startswith("250")
            assert arrived["Date"] is not None
            data = raw(envelope)
            assert b"\n" not in data.replace(b"\r\n", b"")
            assert max(len(line) for line in data.split(b"\r\n")) <= 78
            assert data.isascii()

        asyncio.run(check())

    def test_links_in_the_html_part_are_one_click_answers(self):
        """Every NPS score in the HTML part is a link that parse_inbound reads back as that score."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port)
                invitation, survey = invitation_for(0)
                await channel.send(channel.render(invitation, survey))
                await channel.aclose()
            (arrived,) = sink.messages()
            html = arrived.get_body(("html",)).get_content()  # type: ignore[union-attr]
            links = re.findall(r'href="([^"]+\?q\.ltr=[^"]+)"', html)
            assert len(links) == 11
            scores = []
            for link in links:
                (event,) = channel.parse_inbound(
                    InboundRequest(method="GET", url=link.replace("&amp;", "&"))
                )
                assert isinstance(event, AnswersReceived)
                assert event.token == invitation.token
                assert event.complete is False
                scores.append(event.answers["ltr"])
            assert scores == list(range(11))

        asyncio.run(check())

    @pytest.mark.parametrize(
        "field",
        ["name", "title", "subject_template", "sender_name"],
    )
    def test_line_breaks_in_inputs_never_add_a_header(self, field):
        """CR/LF in a name, a title, a subject template or the sender name cannot add a header or recipient."""
        import attrs  # noqa: PLC0415

        from cxcore import Survey  # noqa: PLC0415
        from cxcore_channels.email import EmailTemplates  # noqa: PLC0415

        payload = "Asha\r\nBcc: victim@example.com\r\nX-Injected: yes\n\rSubject: owned"

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                kwargs: dict[str, Any] = {}
                if field == "sender_name":
                    kwargs["sender_name"] = payload
                if field == "subject_template":
                    kwargs["templates"] = attrs.evolve(
                        EmailTemplates.default(),
                        subject="{{ name }}, {{ survey.title }}\r\nBcc: x@example.com",
                    )
                channel = make_channel(server.port, **kwargs)
                survey = sample_surveys()[0]
                if field == "title":
                    survey = attrs.evolve(survey, title={"en": payload, "hi": payload})
                invitation = sample_invitation(
                    survey, channel="email", name=payload if field != "title" else "Asha"
                )
                await channel.send(channel.render(invitation, survey))
                await channel.aclose()
            (envelope,) = sink.envelopes
            assert envelope.rcpt_tos == ["asha@example.in"]
            head = raw(envelope).split(b"\r\n\r\n", 1)[0].decode("ascii")
            names = [
                line.split(":", 1)[0].lower()
                for line in head.split("\r\n")
                if line[:1] not in (" ", "\t")
            ]
            assert sorted(names) == sorted(
                [
                    "from",
                    "to",
                    "subject",
                    "date",
                    "message-id",
                    "list-unsubscribe",
                    "list-unsubscribe-post",
                    "mime-version",
                    "content-type",
                ]
            )
            (arrived,) = sink.messages()
            assert arrived["Bcc"] is None
            assert arrived["X-Injected"] is None
            assert "\n" not in str(arrived["Subject"])
            assert isinstance(Survey, type)

        asyncio.run(check())


# -- TLS and AUTH ------------------------------------------------------------------------


TLS_CA = trustme.CA()


@pytest.fixture(scope="module")
def tls_pair():
    cert = TLS_CA.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    TLS_CA.configure_trust(client)
    return server, client


def authenticator(server, session: Session, envelope, mechanism, auth_data):  # noqa: ARG001 - aiosmtpd signature
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"surveys",
        b"s3cret",
    )
    # handled=False: aiosmtpd then answers a failure with 535 itself.
    return AuthResult(success=ok, handled=False)


class TestTlsAndAuth:
    def test_starttls_with_auth(self, tls_pair):
        """STARTTLS with a trustme certificate, then AUTH: the message arrives over TLS."""
        server_ctx, client_ctx = tls_pair

        async def check() -> None:
            sink = Sink()
            async with smtp_server(
                sink,
                tls_context=server_ctx,
                require_starttls=True,
                auth_required=True,
                authenticator=authenticator,
            ) as server:
                channel = make_channel(
                    server.port,
                    tls="starttls",
                    tls_context=client_ctx,
                    username="surveys",
                    password="s3cret",
                )
                invitation, survey = invitation_for(1)
                await channel.send(channel.render(invitation, survey))
                await channel.send(channel.render(invitation, survey))
                assert channel.pool.opened == 1
                await channel.aclose()
                (session_server,) = server.sessions
                assert session_server.session is not None
                assert session_server.session.authenticated is True
                assert session_server._tls_protocol is not None
            assert await sink.recipients() == ["asha@example.in", "asha@example.in"]

        asyncio.run(check())

    def test_starttls_trusting_a_ca_file(self, tls_pair, tmp_path):
        """tls_ca_file, a PEM file of the private CA, is trusted as tls_context would be."""
        server_ctx, _ = tls_pair
        ca_file = tmp_path / "ca.pem"
        TLS_CA.cert_pem.write_to_path(str(ca_file))

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink, tls_context=server_ctx, require_starttls=True) as server:
                channel = make_channel(server.port, tls="starttls", tls_ca_file=str(ca_file))
                invitation, survey = invitation_for(0)
                await channel.send(channel.render(invitation, survey))
                await channel.aclose()
            assert await sink.recipients() == ["asha@example.in"]

        asyncio.run(check())

    def test_ca_file_and_context_together_are_refused(self, tls_pair, tmp_path):
        """tls_ca_file and tls_context both given is a configuration error naming both."""
        _, client_ctx = tls_pair
        ca_file = tmp_path / "ca.pem"
        TLS_CA.cert_pem.write_to_path(str(ca_file))
        with pytest.raises(EmailConfigError, match="tls_ca_file and tls_context"):
            make_channel(25, tls_ca_file=str(ca_file), tls_context=client_ctx)

    @pytest.mark.parametrize("content", [None, "not a certificate"], ids=["missing", "not-pem"])
    def test_unreadable_ca_file_is_refused(self, tmp_path, content):
        """A CA file that is missing or holds no certificate is refused at construction, naming it."""
        ca_file = tmp_path / "ca.pem"
        if content is not None:
            ca_file.write_text(content)
        with pytest.raises(EmailConfigError, match=r"tls_ca_file: '.*ca\.pem' cannot be read"):
            make_channel(25, tls_ca_file=str(ca_file))

    def test_wrong_password_is_not_retryable(self, tls_pair):
        """An AUTH refusal is a configuration problem: not retryable, address not suppressed."""
        server_ctx, client_ctx = tls_pair

        async def check() -> None:
            async with smtp_server(
                Sink(),
                tls_context=server_ctx,
                require_starttls=True,
                auth_required=True,
                authenticator=authenticator,
            ) as server:
                channel = make_channel(
                    server.port,
                    tls="starttls",
                    tls_context=client_ctx,
                    username="surveys",
                    password="wrong",
                )
                invitation, survey = invitation_for(0)
                with pytest.raises(SendError) as caught:
                    await channel.send(channel.render(invitation, survey))
                await channel.aclose()
            assert caught.value.code == "535"
            assert not caught.value.retryable
            assert not caught.value.suppress
            assert "wrong" not in str(caught.value)

        asyncio.run(check())

    def test_untrusted_certificate_is_refused(self, tls_pair):
        """Certificates are verified: a server whose CA is not trusted gets no message."""
        server_ctx, _ = tls_pair

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink, tls_context=server_ctx, require_starttls=True) as server:
                channel = make_channel(server.port, tls="starttls")  # system trust store only
                invitation, survey = invitation_for(0)
                with pytest.raises(SendError, match="CERTIFICATE_VERIFY_FAILED"):
                    await channel.send(channel.render(invitation, survey))
                await channel.aclose()
            assert sink.envelopes == []

        asyncio.run(check())

    def test_implicit_tls(self, tls_pair):
        """TLS from the first byte (port 465 style)."""
        server_ctx, client_ctx = tls_pair

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink, tls=server_ctx) as server:
                channel = make_channel(server.port, tls="implicit", tls_context=client_ctx)
                invitation, survey = invitation_for(2)
                await channel.send(channel.render(invitation, survey))
                await channel.aclose()
            assert await sink.recipients() == ["asha@example.in"]

        asyncio.run(check())


# -- the pool --------------------------------------------------------------------------


class TestPool:
    def test_sessions_are_reused_and_capped(self):
        """Sequential sends share one session; max_messages_per_connection starts a new one."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, max_messages_per_connection=2)
                invitation, survey = invitation_for(0)
                message = channel.render(invitation, survey)
                for _ in range(5):
                    await channel.send(message)
                await channel.aclose()
                assert len(server.sessions) == 3
            assert len(sink.envelopes) == 5

        asyncio.run(check())

    def test_a_dropped_session_is_reopened(self):
        """When the server drops an idle session, the next send reconnects and succeeds."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port)
                invitation, survey = invitation_for(0)
                message = channel.render(invitation, survey)
                await channel.send(message)
                server.drop_all()
                await asyncio.sleep(0.05)
                await channel.send(message)
                await channel.aclose()
                assert len(server.sessions) == 2
                assert channel.pool.opened == 2
            assert len(sink.envelopes) == 2

        asyncio.run(check())

    def test_concurrent_sends_stay_within_the_pool_size(self):
        """Forty concurrent sends use at most pool_size sessions, and all arrive."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, pool_size=4)
                invitation, survey = invitation_for(3)
                message = channel.render(invitation, survey)
                results = await asyncio.gather(*(channel.send(message) for _ in range(40)))
                await channel.aclose()
                assert 1 <= len(server.sessions) <= 4
            assert len(results) == 40
            assert len(sink.envelopes) == 40

        asyncio.run(check())

    def test_a_server_without_ehlo_is_greeted_with_helo(self):
        """A server that refuses EHLO gets HELO, then the message."""

        class HeloOnly(SMTP):
            async def smtp_EHLO(self, hostname: str) -> None:  # noqa: N802 - aiosmtpd's name
                await self.push("502 5.5.2 EHLO not implemented")

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink, server_class=HeloOnly) as server:
                channel = make_channel(server.port)
                invitation, survey = invitation_for(0)
                await channel.send(channel.render(invitation, survey))
                await channel.aclose()
                (smtp,) = server.sessions
                session = smtp.session
                assert session is not None
                assert (session.extended_smtp, session.host_name) == (False, "bazaar.example.in")
            assert len(sink.envelopes) == 1

        asyncio.run(check())

    def test_addresses_that_are_not_plain_go_through_aiosmtplib(self):
        """Other forms are parsed and checked by aiosmtplib: nothing but the address goes out."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port)
                data = b"From: surveys@bazaar.example.in\r\nSubject: hi\r\n\r\nhello\r\n"
                forms = [
                    "Asha <asha@example.in>",
                    "asha@example.in> NOTIFY=NEVER",
                    "asha@example.in\r\nRSET",
                ]
                for form in forms:
                    await channel.pool.send(form.replace("asha", "bounces"), [form], data)
                for bad in ("a b@example.in", "a\tb@example.in"):
                    with pytest.raises(ValueError, match="not permitted"):
                        await channel.pool.send(BOUNCES, [bad], data)
                    with pytest.raises(ValueError, match="not permitted"):
                        await channel.pool.send(bad, ["asha@example.in"], data)
                await channel.aclose()
            assert len(sink.envelopes) == len(forms)
            for envelope in sink.envelopes:
                assert envelope.mail_from == "bounces@example.in"
                assert envelope.rcpt_tos == ["asha@example.in"]
                assert (envelope.mail_options, envelope.rcpt_options) == ([], [])

        asyncio.run(check())

    def test_the_timeout_is_per_step_not_per_message(self):
        """Steps each shorter than the timeout go through, though together they are longer."""

        async def check() -> None:
            sink = Sink(delays={"MAIL": 0.2, "RCPT": 0.2, "DATA": 0.2})
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, timeout=0.35)
                data = b"From: surveys@bazaar.example.in\r\nSubject: hi\r\n\r\nhello\r\n"
                recipients = ["asha@example.in", "ravi@example.in"]
                delivery = await channel.pool.send(BOUNCES, recipients, data)
                await channel.aclose()
            assert delivery.accepted == tuple(recipients)
            assert len(sink.envelopes) == 1

        asyncio.run(check())

    @pytest.mark.parametrize(
        "data",
        [
            b"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nend .\r\n",
            b".starts with a dot\r\n\r\nbody\r\n",
            # Bare LF and CR: aiosmtplib rewrites them; nothing is cut off after "\n.\r\n".
            b"Subject: smuggle\r\n\r\nbare\n.\r\nMAIL FROM:<x@example.com>\r\nlone\rcr\n",
        ],
        ids=["leading-dots", "first-line-dot", "bare-lf-and-cr"],
    )
    def test_the_message_arrives_as_sent(self, data):
        """Leading dots are doubled on the wire and undone by the server; line endings become CRLF."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port)
                await channel.pool.send(BOUNCES, ["asha@example.in"], data)
                await channel.aclose()
            (envelope,) = sink.envelopes
            expected = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
            if not expected.endswith(b"\r\n"):
                expected += b"\r\n"
            assert raw(envelope) == expected
            assert envelope.rcpt_tos == ["asha@example.in"]

        asyncio.run(check())

    @pytest.mark.parametrize("locale", ["en", "hi"])
    def test_built_messages_are_canonical(self, locale):
        """What the channel builds needs no rewriting of line endings before DATA."""
        channel = make_channel(25)
        for survey in sample_surveys():
            invitation = sample_invitation(
                survey, channel="email", locale=locale, name="Asha\r\n.\nX: y\r"
            )
            data = channel.message_bytes(channel.render(invitation, survey))
            assert transparent_data(data) is not None

    @given(st.lists(st.sampled_from([b".", b"..", b"a", b"\r", b"\n", b"\r\n", b" "]), max_size=40))
    def test_transparent_data_doubles_leading_dots_of_canonical_data_only(self, pieces):
        """Canonical data: each line that starts with a dot gets one more; any other: None."""
        data = b"".join(pieces)
        wire = transparent_data(data)
        lines = data.split(b"\r\n")
        canonical = data.endswith(b"\r\n") and not any(b"\r" in x or b"\n" in x for x in lines)
        if not canonical:
            assert wire is None
            return
        stuffed = [b"." + line if line.startswith(b".") else line for line in lines[:-1]]
        assert wire == b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"

    def test_messages_are_built_once_a_session_is_free(self):
        """Concurrent sends build each message when its turn comes, not all before the first goes."""

        class CountingClock:
            def __init__(self) -> None:
                self.calls = 0

            def now(self) -> datetime:
                self.calls += 1
                return SAMPLE_TIME

        async def check() -> None:
            clock = CountingClock()
            built_before: list[int] = []

            class Watching(Sink):
                async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
                    built_before.append(clock.calls)
                    self.envelopes.append(envelope)
                    return "250 2.0.0 OK: queued"

            sink = Watching()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, pool_size=1, clock=clock)
                invitation, survey = invitation_for(0)
                message = channel.render(invitation, survey)
                await asyncio.gather(*(channel.send(message) for _ in range(5)))
                await channel.aclose()
            # Eager building would have built all five before the first DATA.
            assert built_before == [1, 2, 3, 4, 5]
            assert len(sink.envelopes) == 5

        asyncio.run(check())

    def test_a_message_that_cannot_be_built_frees_its_session(self):
        """A build error is a SendError; the pool's only session goes on to the next send."""

        async def check() -> None:
            sink = Sink()
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, pool_size=1)
                invitation, survey = invitation_for(0)
                good = channel.render(invitation, survey)
                bad = attrs.evolve(good, headers={**good.headers, "Bcc": "x@example.com"})
                nobody = attrs.evolve(good, to=None)
                results = await asyncio.gather(
                    channel.send(bad),
                    channel.send(nobody),
                    channel.send(good),
                    return_exceptions=True,
                )
                await channel.aclose()
                assert channel.pool.opened == 1
            built, missing, sent = results
            assert isinstance(built, SendError)
            assert "cannot be built" in str(built)
            assert (built.retryable, built.suppress) == (False, False)
            assert isinstance(missing, SendError)
            assert "no recipient" in str(missing)
            assert not missing.suppress
            assert not isinstance(sent, BaseException)
            assert len(sink.envelopes) == 1

        asyncio.run(check())

    def test_send_after_aclose(self):
        """aclose closes the idle sessions; later sends are refused."""

        async def check() -> None:
            async with smtp_server(Sink()) as server:
                channel = make_channel(server.port)
                invitation, survey = invitation_for(0)
                message = channel.render(invitation, survey)
                await channel.send(message)
                await channel.aclose()
                assert channel.pool._idle == []
                with pytest.raises(ChannelClosedError):
                    await channel.send(message)

        asyncio.run(check())


# -- what the server says -----------------------------------------------------------------


class TestErrors:
    @pytest.mark.parametrize(
        ("sink_kwargs", "code", "retryable", "suppress"),
        [
            ({"rcpt_replies": {"asha@example.in": "450 4.2.1 mailbox busy"}}, "450", True, False),
            ({"rcpt_replies": {"asha@example.in": "550 5.1.1 no such user"}}, "550", False, True),
            ({"data_reply": "451 4.3.0 try again later"}, "451", True, False),
            ({"data_reply": "554 5.7.1 message refused as spam"}, "554", False, False),
        ],
        ids=["rcpt-4xx", "rcpt-5xx", "data-4xx", "data-5xx"],
    )
    def test_replies_become_send_errors(self, sink_kwargs, code, retryable, suppress):
        """4xx is retryable; 5xx to RCPT suppresses the address; 5xx to DATA does not."""

        async def check() -> None:
            sink = Sink(**sink_kwargs)
            async with smtp_server(sink) as server:
                channel = make_channel(server.port)
                invitation, survey = invitation_for(0)
                message = channel.render(invitation, survey)
                with pytest.raises(SendError) as caught:
                    await channel.send(message)
                # The session survives a refusal and is used again.
                sink.rcpt_replies.clear()
                sink.data_reply = None
                await channel.send(message)
                await channel.aclose()
                assert len(server.sessions) == 1
            error = caught.value
            assert (error.code, error.retryable, error.suppress, error.ambiguous) == (
                code,
                retryable,
                suppress,
                False,
            )
            assert "asha@example.in" not in str(error)
            assert await sink.recipients() == ["asha@example.in"]

        asyncio.run(check())

    def test_some_recipients_refused(self):
        """A refusal of some recipients is reported per recipient; the others get the message."""

        async def check() -> None:
            sink = Sink(rcpt_replies={"ravi@example.in": "550 5.1.1 no such user"})
            async with smtp_server(sink) as server:
                channel = make_channel(server.port)
                data = b"From: surveys@bazaar.example.in\r\nSubject: hi\r\n\r\nhello\r\n"
                delivery = await channel.pool.send(
                    BOUNCES, ["asha@example.in", "ravi@example.in"], data
                )
                await channel.aclose()
            assert delivery.accepted == ("asha@example.in",)
            assert delivery.refused == {"ravi@example.in": (550, "5.1.1 no such user")}
            assert "ravi" not in repr(delivery)
            assert await sink.recipients() == ["asha@example.in"]

        asyncio.run(check())

    def test_timeout_after_data_is_ambiguous(self):
        """A session lost after DATA was sent is ambiguous: the server may have the message."""

        async def check() -> None:
            release = asyncio.Event()
            sink = Sink(hold_data=release)
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, timeout=0.3)
                invitation, survey = invitation_for(0)
                with pytest.raises(SendError) as caught:
                    await channel.send(channel.render(invitation, survey))
                release.set()
                await asyncio.sleep(0.05)
                await channel.aclose()
            assert caught.value.ambiguous
            assert not caught.value.retryable

        asyncio.run(check())

    def test_timeout_before_data_is_retryable(self):
        """A server that does not answer RCPT in time: nothing was sent, so it is retryable."""

        async def check() -> None:
            sink = Sink(delays={"RCPT": 1.0})
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, timeout=0.3)
                invitation, survey = invitation_for(0)
                message = channel.render(invitation, survey)
                with pytest.raises(SendError) as caught:
                    await channel.send(message)
                # The session that timed out is not used again: the next send opens another.
                sink.delays.clear()
                await channel.send(message)
                await channel.aclose()
                assert channel.pool.opened == 2
            error = caught.value
            assert (error.retryable, error.ambiguous) == (True, False)
            assert "before DATA" in str(error)
            assert "0.3 s" in str(error)
            assert len(sink.envelopes) == 1

        asyncio.run(check())

    def test_timeout_on_mail_reopens_once(self):
        """No answer to MAIL: the session is replaced once, then the send fails, retryable."""

        async def check() -> None:
            release = asyncio.Event()
            sink = Sink(hold_mail=release)
            async with smtp_server(sink) as server:
                channel = make_channel(server.port, timeout=0.2)
                invitation, survey = invitation_for(0)
                with pytest.raises(SendError) as caught:
                    await channel.send(channel.render(invitation, survey))
                release.set()
                await channel.aclose()
                assert channel.pool.opened == 2
            assert sink.mail_commands == 2
            assert (caught.value.retryable, caught.value.ambiguous) == (True, False)
            assert "before MAIL" in str(caught.value)
            assert sink.envelopes == []

        asyncio.run(check())

    def test_connection_refused_is_retryable(self):
        """No server listening: nothing was sent, so trying later is safe."""

        async def check() -> None:
            async with smtp_server(Sink()) as server:
                port = server.port
            channel = make_channel(port)
            invitation, survey = invitation_for(0)
            with pytest.raises(SendError) as caught:
                await channel.send(channel.render(invitation, survey))
            await channel.aclose()
            assert caught.value.retryable

        asyncio.run(check())

    def test_without_aiosmtplib_a_send_is_put_back_saying_what_to_install(self, monkeypatch):
        """A missing library is a retryable error naming the extra, never "maybe sent"."""
        monkeypatch.setitem(sys.modules, "aiosmtplib", None)  # as if it were not installed

        async def check() -> None:
            async with smtp_server(Sink()) as server:
                channel = make_channel(server.port)
                invitation, survey = invitation_for(0)
                message = channel.render(invitation, survey)  # rendering needs no SMTP library
                with pytest.raises(SendError) as caught:
                    await channel.send(message)
                await channel.aclose()
            assert caught.value.retryable
            assert not caught.value.ambiguous
            assert str(caught.value) == (
                "sending email over SMTP needs the optional library 'aiosmtplib'; "
                "install it with: pip install 'cxcore[email]'"
            )

        asyncio.run(check())
