"""Bounces: VERP return paths, and delivery status notifications (RFC 3464).

Every message goes out with its own envelope sender (VERP): the configured
bounce address with a tag after a ``+``, ``bounces+inv-42.0@mail.example.in``.
The tag names the invitation and the send (``<invitation id>.<reminder>``);
characters other than letters, digits, ``-`` and ``_`` are written ``=XX``
(UTF-8 bytes in hex), so the tag is a valid local part. The same tag is the
left part of the message's ``Message-ID`` and so of the ``provider_id`` that
``send`` returns. A bounce comes back to the tagged address; reading the tag
gives the provider id, and the invitation id, without any lookup table.

Tags that would make a local part longer than 64 characters are replaced by a
hash: the provider id still matches, but the invitation id cannot be read back.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import hashlib
import re
from typing import Final

import attrs

from cxcore import Disposition, InboundError, StatusReceived
from cxcore_channels.email.mime import Mailbox

__all__ = [
    "DeliveryReport",
    "RecipientStatus",
    "Verp",
    "parse_dsn",
    "report_events",
    "verp_decode",
    "verp_encode",
]

_SAFE: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_MAX_LOCAL: Final = 64
_HEX: Final = frozenset("0123456789ABCDEFabcdef")
_HASHED: Final = "h--"
"""How a hashed tag begins; an invitation id beginning so has its ``h`` escaped."""


def verp_encode(invitation_id: str, reminder: int = 0) -> str:
    """The tag of one send of an invitation.

    >>> verp_encode("inv-42", 0), verp_encode("order 7/a", 1), verp_encode("h--1")
    ('inv-42.0', 'order=207=2Fa.1', '=68--1.0')
    """
    out = []
    for char in invitation_id:
        if char in _SAFE:
            out.append(char)
        else:
            out.extend(f"={byte:02X}" for byte in char.encode("utf-8"))
    if invitation_id.startswith(_HASHED):  # would read as a hashed tag: its 'h' is escaped
        out[0] = "=68"
    return f"{''.join(out)}.{reminder}"


def verp_decode(tag: str) -> tuple[str, int] | None:
    """The invitation id and reminder of a tag, or ``None`` if it is not one (or is hashed).

    >>> verp_decode("order=207=2Fa.1")
    ('order 7/a', 1)
    """
    encoded, dot, reminder = tag.rpartition(".")
    if not dot or not reminder.isascii() or not reminder.isdigit() or not encoded:
        return None
    if encoded.startswith(_HASHED):
        return None
    data = bytearray()
    i = 0
    while i < len(encoded):
        char = encoded[i]
        if char == "=":
            pair = encoded[i + 1 : i + 3]
            if len(pair) != 2 or not all(c in _HEX for c in pair):
                return None
            data.append(int(pair, 16))
            i += 3
        elif char in _SAFE:
            data.append(ord(char))
            i += 1
        else:
            return None
    try:
        return data.decode("utf-8"), int(reminder)
    except UnicodeDecodeError:
        return None


@attrs.frozen
class Verp:
    """The VERP scheme of one bounce mailbox.

    Args:
        bounce: The mailbox bounces go to (``bounces@mail.example.in``);
            tagged addresses are ``bounces+<tag>@mail.example.in``.

    .. versionadded:: 0.1.0
    """

    bounce: Mailbox

    def tag(self, invitation_id: str, reminder: int = 0) -> str:
        """The tag of one send: readable when it fits, else a hash."""
        local = self.bounce.address.rpartition("@")[0]
        tag = verp_encode(invitation_id, reminder)
        if len(local) + 1 + len(tag) > _MAX_LOCAL:
            digest = hashlib.blake2b(f"{invitation_id}\0{reminder}".encode(), digest_size=16)
            tag = f"{_HASHED}{digest.hexdigest()}"
        return tag

    def address(self, tag: str) -> str:
        """The envelope sender carrying *tag*."""
        local, _, domain = self.bounce.address.rpartition("@")
        return f"{local}+{tag}@{domain}"

    def tag_of(self, address: str) -> str | None:
        """The tag of a tagged address of this mailbox, or ``None``."""
        local, _, domain = self.bounce.address.rpartition("@")
        address = address.strip().strip("<>")
        their_local, _, their_domain = address.rpartition("@")
        prefix = f"{local}+"
        if their_domain.lower() != domain.lower() or not their_local.startswith(prefix):
            return None
        return their_local[len(prefix) :] or None


@attrs.frozen
class RecipientStatus:
    """What a delivery status notification says about one recipient.

    Attributes:
        recipient: The final recipient's address (personal data).
        action: ``failed``, ``delayed``, ``delivered``, ``relayed`` or ``expanded``.
        status: The enhanced status code, ``5.1.1``.
        diagnostic: The remote server's words, if given.

    .. versionadded:: 0.1.0
    """

    recipient: str | None
    action: str
    status: str
    diagnostic: str | None = attrs.field(default=None, repr=False)

    @property
    def permanent(self) -> bool:
        """Whether a failure is permanent (status class 5): the address should be suppressed."""
        return self.status.startswith("5")


@attrs.frozen
class DeliveryReport:
    """A parsed delivery status notification (``multipart/report``).

    Attributes:
        verp_tag: The tag of the address the report came back to, if tagged.
        original_message_id: The ``Message-ID`` of the message it is about,
            from the returned headers, without angle brackets.
        recipients: One status per recipient the report is about.

    .. versionadded:: 0.1.0
    """

    verp_tag: str | None
    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _typed_value(value: object) -> str:
    """``rfc822; asha@example.in`` -> ``asha@example.in``."""
    text = _text(value)
    return text.split(";", 1)[1].strip() if ";" in text else text


def _status_of(block: email.message.Message) -> str:
    status = _text(block.get("Status")).split(" ")[0]
    if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status):
        return status
    diagnostic = _typed_value(block.get("Diagnostic-Code"))
    code = re.match(r"([245])\d\d\b", diagnostic)
    if code:
        return f"{code.group(1)}.0.0"
    return "5.0.0" if _text(block.get("Action")).lower() == "failed" else "2.0.0"


def parse_dsn(raw: bytes, verp: Verp | None = None) -> DeliveryReport:
    """Parse a delivery status notification.

    Args:
        raw: The whole bounce email, as received.
        verp: The VERP scheme, to find the tag in ``Delivered-To``,
            ``X-Original-To``, ``Envelope-To`` or ``To``.

    Raises:
        InboundError: If *raw* is not a ``multipart/report`` with a
            ``message/delivery-status`` part.

    .. versionadded:: 0.1.0
    """
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:
        raise InboundError(f"the bounce is not an email: {exc}") from exc
    if message.get_content_type() != "multipart/report":
        msg = (
            f"the bounce is {message.get_content_type()!r} "
            "(expected a 'multipart/report' delivery status notification)"
        )
        raise InboundError(msg)
    status_part = None
    original_id = None
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status" and status_part is None:
            status_part = part
        elif ctype in ("text/rfc822-headers", "message/rfc822") and original_id is None:
            original_id = _original_message_id(part)
    if status_part is None:
        msg = "the report has no 'message/delivery-status' part"
        raise InboundError(msg)
    blocks = status_part.get_payload()
    if not isinstance(blocks, list) or len(blocks) < 2:  # per-message block, then recipients
        msg = "the delivery-status part has no per-recipient fields"
        raise InboundError(msg)
    recipients = tuple(
        RecipientStatus(
            recipient=_typed_value(block.get("Final-Recipient")) or None,
            action=_text(block.get("Action")).lower() or "failed",
            status=_status_of(block),
            diagnostic=_typed_value(block.get("Diagnostic-Code")) or None,
        )
        for block in blocks[1:]
        if isinstance(block, email.message.Message) and block.get("Final-Recipient")
    )
    if not recipients:
        msg = "the delivery-status part names no Final-Recipient"
        raise InboundError(msg)
    tag = _verp_tag(message, verp) if verp is not None else None
    return DeliveryReport(verp_tag=tag, original_message_id=original_id, recipients=recipients)


def _verp_tag(message: email.message.Message, verp: Verp) -> str | None:
    for header in ("Delivered-To", "X-Original-To", "Envelope-To", "To"):
        for value in message.get_all(header, []):
            tag = verp.tag_of(_text(value))
            if tag:
                return tag
    return None


def _original_message_id(part: email.message.Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], email.message.Message):
        value = payload[0].get("Message-ID")
    else:
        text = part.get_payload(decode=True)
        if not isinstance(text, bytes):
            return None
        headers = email.message_from_bytes(text, policy=email.policy.compat32)
        value = headers.get("Message-ID")
    found = _text(value).strip("<>") if value else ""
    return found or None


def report_events(
    report: DeliveryReport, provider_id: str | None, invitation_id: str | None = None
) -> list[StatusReceived]:
    """The events a report gives: a bounce per failed recipient, a delivery per delivered one.

    ``delayed``, ``relayed`` and ``expanded`` are not final and give nothing.
    """
    events = []
    for r in report.recipients:
        detail = f"{r.action} {r.status}" + (f": {r.diagnostic}" if r.diagnostic else "")
        if r.action == "failed":
            events.append(
                StatusReceived(
                    provider_id=provider_id,
                    disposition=Disposition.BOUNCED,
                    invitation_id=invitation_id,
                    permanent=r.permanent,
                    detail=detail,
                    address=r.recipient,
                )
            )
        elif r.action == "delivered":
            events.append(
                StatusReceived(
                    provider_id=provider_id,
                    disposition=Disposition.DELIVERED,
                    invitation_id=invitation_id,
                    detail=detail,
                    address=r.recipient,
                )
            )
    return events
