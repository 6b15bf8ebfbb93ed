"""The email channel: survey invitations with one-click scores and an AMP form."""

from __future__ import annotations

import base64
import hmac
import logging
import os
import ssl
from collections.abc import Sequence
from typing import ClassVar

from cxcore import (
    AddressKind,
    Capabilities,
    ChannelClosedError,
    ChannelError,
    Clock,
    InboundError,
    InboundEvent,
    InboundMode,
    InboundRequest,
    Invitation,
    OutboundMessage,
    SendError,
    SendResult,
    Survey,
    SystemClock,
)
from cxcore_channels.email.bounces import Verp, parse_dsn, report_events, verp_decode
from cxcore_channels.email.dkim import DkimSigner
from cxcore_channels.email.errors import EmailAddressError, EmailConfigError
from cxcore_channels.email.links import ONE_CLICK_BODY, SurveyLinks
from cxcore_channels.email.mime import Mailbox, build_message, check_address, mask_address
from cxcore_channels.email.pool import SmtpPool, TlsMode
from cxcore_channels.email.render import EmailTemplates, SurveyRenderer

__all__ = ["EmailChannel"]

log = logging.getLogger("cxcore.channels.email")

_BOUNCE_TYPES = frozenset({"message/rfc822", "multipart/report"})


def _trusting(ca_file: str | os.PathLike[str], given: ssl.SSLContext | None) -> ssl.SSLContext:
    """A TLS context that verifies servers against the CA certificates in *ca_file*.

    Raises:
        EmailConfigError: If *given* is set too, or the file cannot be read as PEM certificates.
    """
    if given is not None:
        msg = "tls_ca_file and tls_context: give one or the other, not both"
        raise EmailConfigError(msg)
    path = os.fspath(ca_file)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror or str(exc)
        msg = f"tls_ca_file: {path!r} cannot be read as PEM CA certificates ({reason})"
        raise EmailConfigError(msg) from exc


class EmailChannel:
    """Survey invitations by email, sent over a pool of SMTP connections.

    Each message is ``multipart/alternative``: ``text/plain``, then
    ``text/x-amp-html`` (an AMP for Email form that posts the answers), then
    ``text/html``. The text and HTML parts are complete surveys: every score is
    a one-click link. Messages carry RFC 8058 one-click unsubscribe headers and
    a VERP envelope sender, so that bounces map back to their invitation.

    Args:
        base_url: The collector's public URL; links are built under it
            (``https://`` for AMP).
        sender: The ``From`` address.
        sender_name: The ``From`` display name.
        host: The SMTP server.
        port: Its port (default: by ``tls``: 587, 465 or 25).
        tls: ``"starttls"`` (default, required), ``"implicit"`` or ``"none"``.
        tls_context: To trust a private CA; certificates are always verified.
        tls_ca_file: A PEM file of CA certificates to trust instead of the
            system's, for a private CA: what a deployment file can say where
            Python code would pass *tls_context*.
        username: SMTP AUTH user, with *password*.
        password: SMTP AUTH password.
        bounce_address: The mailbox bounces go to; messages are sent from
            VERP-tagged forms of it. Default: *sender*.
        bounce_secret: The secret a bounce posted to the collector must carry,
            as ``Authorization: Bearer <secret>`` or as the password of HTTP
            Basic authentication (what inbound-mail webhooks send). A bounce
            suppresses an address, so without a secret none is taken over HTTP.
        pool_size: The most SMTP sessions open at once.
        max_messages_per_connection: Messages per session before it is replaced.
        timeout: Seconds to wait for the server at each step.
        templates: Your own templates (default: the built-in ones).
        amp: Whether to add the AMP part.
        dkim: A DKIM signer, to sign every message.
        clock: Where the ``Date`` header comes from.
        message_id_domain: The right part of ``Message-ID`` (default: the sender's domain).

    Raises:
        EmailConfigError: For a setting it cannot use, naming it.
        EmailTemplateError: If a template does not compile.

    .. versionadded:: 0.1.0
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({"text/plain", "text/x-amp-html", "text/html"}),
        address=AddressKind.EMAIL,
        two_way=True,
        inbound=InboundMode.FORM,
        requires=frozenset({"aiosmtplib"}),  # the email extra: rendering needs none of it
    )

    def __init__(
        self,
        *,
        base_url: str,
        sender: str,
        sender_name: str | None = None,
        host: str = "localhost",
        port: int | None = None,
        tls: TlsMode = "starttls",
        tls_context: ssl.SSLContext | None = None,
        tls_ca_file: str | os.PathLike[str] | None = None,
        username: str | None = None,
        password: str | None = None,
        bounce_address: str | None = None,
        bounce_secret: str | None = None,
        pool_size: int = 10,
        max_messages_per_connection: int = 100,
        timeout: float = 30.0,
        templates: EmailTemplates | None = None,
        amp: bool = True,
        dkim: DkimSigner | None = None,
        clock: Clock | None = None,
        message_id_domain: str | None = None,
    ) -> None:
        try:
            self.sender = Mailbox(sender, sender_name)
            self.verp = Verp(Mailbox(bounce_address or sender))
        except EmailAddressError as exc:
            raise EmailConfigError(f"sender or bounce_address: {exc}") from exc
        self.links = SurveyLinks(base_url)
        if amp and not self.links.secure:
            msg = f"base_url: {base_url!r} is not https, which AMP forms need; pass amp=False"
            raise EmailConfigError(msg)
        self.renderer = SurveyRenderer(templates, self.links, amp=amp)
        self.message_id_domain = message_id_domain or self.sender.domain
        self.dkim = dkim
        self.clock: Clock = clock or SystemClock()
        if tls_ca_file is not None:
            tls_context = _trusting(tls_ca_file, tls_context)
        self.pool = SmtpPool(
            host=host,
            port=port,
            tls=tls,
            tls_context=tls_context,
            username=username,
            password=password,
            size=pool_size,
            max_messages=max_messages_per_connection,
            timeout=timeout,
            local_hostname=self.sender.domain,
        )
        self._bounce_secret = bounce_secret
        self._closed = False

    def __repr__(self) -> str:
        return f"EmailChannel(base_url={self.links.base_url!r}, pool={self.pool!r})"

    # -- render -------------------------------------------------------------------

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        """Render *invitation* as a survey email. Pure.

        Raises:
            ChannelError: If the invitation is for another survey or version.
            EmailAddressError: If the invitation's address is missing or not
                a plain ASCII address.
            EmailTemplateError: If a template fails or leaves its sandbox.
        """
        if (invitation.survey_id, invitation.survey_version) != (survey.id, survey.version):
            msg = (
                f"invitation {invitation.id!r} is for survey {invitation.survey_id!r} "
                f"v{invitation.survey_version}, not {survey.id!r} v{survey.version}"
            )
            raise ChannelError(msg)
        if invitation.address is None:
            msg = f"invitation {invitation.id!r}: address is None (expected an email address)"
            raise EmailAddressError(msg)
        to = check_address(invitation.address, f"invitation {invitation.id!r}: address")
        rendered = self.renderer.render(invitation, survey)
        tag = self.verp.tag(invitation.id, invitation.reminder)
        headers = {"Message-ID": f"<{tag}@{self.message_id_domain}>"}
        if invitation.unsubscribe_token:
            unsubscribe = self.links.unsubscribe(invitation.unsubscribe_token)
            headers["List-Unsubscribe"] = f"<{unsubscribe}>"
            headers["List-Unsubscribe-Post"] = ONE_CLICK_BODY
        return OutboundMessage(
            invitation_id=invitation.id,
            channel=invitation.channel,
            to=to,
            parts=rendered.parts,
            subject=rendered.subject,
            headers=headers,
        )

    def message_bytes(self, message: OutboundMessage) -> bytes:
        """The full email for *message*, as it goes to the SMTP server (signed, if DKIM is on).

        Raises:
            EmailAddressError: If the recipient is missing or not a plain address.
        """
        data = build_message(message, sender=self.sender, date=self.clock.now())
        return self.dkim.sign(data) if self.dkim is not None else data

    # -- send -----------------------------------------------------------------------

    def _tag(self, message: OutboundMessage) -> str:
        message_id = message.headers.get("Message-ID", "")
        left, at, _ = message_id.strip("<>").partition("@")
        return left if at and left else self.verp.tag(message.invitation_id)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send *message* over the connection pool.

        Returns:
            The result; ``provider_id`` is the ``Message-ID`` (without angle
            brackets), which bounces carry back.

        Raises:
            SendError: 4xx: ``retryable``; 5xx to the recipient: ``suppress``;
                session lost after DATA: ``ambiguous``.
            ChannelClosedError: After :meth:`aclose`.
        """
        if self._closed:
            msg = "the email channel is closed"
            raise ChannelClosedError(msg)
        tag = self._tag(message)
        extra = {}
        if "Message-ID" not in message.headers:
            extra["Message-ID"] = f"<{tag}@{self.message_id_domain}>"
        if message.to is None:
            msg = f"message {message.invitation_id!r} has no recipient (to is None)"
            raise SendError(msg)

        def build() -> bytes:
            # Called by the pool once a session is free: a batch of sends
            # builds each message while others are on the wire.
            try:
                data = build_message(
                    message, sender=self.sender, date=self.clock.now(), extra_headers=extra
                )
            except EmailAddressError as exc:
                raise SendError(str(exc), suppress=True) from exc
            except ValueError as exc:
                msg = f"message {message.invitation_id!r} cannot be built: {exc}"
                raise SendError(msg) from exc
            return self.dkim.sign(data) if self.dkim is not None else data

        try:
            delivery = await self.pool.send(self.verp.address(tag), [message.to], build)
        except SendError as exc:
            log.info(
                "invitation %s to %s not sent: %s",
                message.invitation_id,
                mask_address(message.to),
                exc,
            )
            raise
        return SendResult(
            invitation_id=message.invitation_id,
            provider_id=f"{tag}@{self.message_id_domain}",
            detail=delivery.reply,
        )

    # -- inbound ------------------------------------------------------------------

    def parse_inbound(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Read a one-click answer, an AMP form post, a one-click unsubscribe or a bounce.

        Bounces come as a request whose ``content-type`` is ``message/rfc822``
        (or ``multipart/report``) and whose body is the whole bounce email, as
        an MTA pipe or an inbound-mail webhook forwards it.

        Raises:
            InboundError: If the request is none of these.
        """
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype in _BOUNCE_TYPES:
            self._check_bounce_secret(request)
            report = parse_dsn(request.body, self.verp)
            provider_id = (
                f"{report.verp_tag}@{self.message_id_domain}"
                if report.verp_tag
                else report.original_message_id
            )
            decoded = verp_decode(report.verp_tag) if report.verp_tag else None
            return report_events(report, provider_id, decoded[0] if decoded else None)
        return self.links.parse(request)

    def _check_bounce_secret(self, request: InboundRequest) -> None:
        """Refuse a bounce that does not carry the configured secret (constant-time)."""
        if self._bounce_secret is None:
            msg = (
                "bounces are taken over HTTP only with a secret: set the email channel's "
                "bounce_secret, and send it as Authorization: Bearer <secret>"
            )
            raise InboundError(msg)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        given = value.strip()
        if scheme.lower() == "basic":
            try:
                given = base64.b64decode(given, validate=True).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                given = ""
        elif scheme.lower() != "bearer":
            given = ""
        if not hmac.compare_digest(given.encode(), self._bounce_secret.encode()):
            msg = "the bounce does not carry the bounce secret (Authorization: Bearer or Basic)"
            raise InboundError(msg)

    async def aclose(self) -> None:
        """Close the SMTP sessions; later sends raise ChannelClosedError. Idempotent."""
        self._closed = True
        await self.pool.aclose()
