"""Building the MIME message by hand: fast, and safe against header injection.

``email.message.EmailMessage`` costs 1.2-3.3 ms per message, most of the cost
of sending one. This module writes the same structure directly, in about a
tenth of that, and keeps to the rules that matter:

* every line ends in CRLF, and no line is longer than 78 characters but for a
  single unbreakable ASCII word (under 998);
* header values are made one line first (:func:`~cxcore_channels.email.render.one_line`),
  so CR and LF in a name or subject can never start a header; non-ASCII values
  become RFC 2047 encoded-words (UTF-8, base64);
* bodies are UTF-8, sent as 7bit when they are short-lined ASCII, else as
  quoted-printable or base64, whichever is smaller;
* the boundary starts with ``=_``, which neither quoted-printable nor base64
  can produce, and 7bit bodies that contain it are quoted-printable instead.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Final

import attrs

from cxcore import OutboundMessage
from cxcore_channels.email.errors import EmailAddressError
from cxcore_channels.email.render import one_line

__all__ = [
    "MIME_ORDER",
    "Mailbox",
    "build_message",
    "check_address",
    "encode_header",
    "is_plain_address",
    "mask_address",
]

MIME_ORDER: Final = ("text/plain", "text/x-amp-html", "text/html")
"""The order of the alternatives: AMP before HTML, so clients without AMP show the HTML."""

_RESERVED: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "sender",
        "reply-to",
        "return-path",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")
_CHUNK_BYTES: Final = 39  # 52 base64 characters: each encoded-word stays under 66
_LINE: Final = 78
_LONG_LINE = re.compile(f"[^\n]{{{_LINE + 1}}}")


def mask_address(address: str | None) -> str:
    """Mask an address for logs and error messages: ``asha@example.in`` -> ``a***@example.in``.

    >>> mask_address("asha@example.in")
    'a***@example.in'
    """
    if not address:
        return "<none>"
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"


def is_plain_address(address: str) -> bool:
    """Whether *address* is a plain ASCII ``local@domain.tld`` of at most 254 characters.

    Such an address holds no space, angle bracket, quote or control
    character, so it can go on an SMTP ``MAIL`` or ``RCPT`` line as it is.

    >>> is_plain_address("asha@example.in"), is_plain_address("Asha <asha@example.in>")
    (True, False)
    """
    return len(address) <= 254 and _ADDRESS.fullmatch(address) is not None


def check_address(address: str, field: str) -> str:
    """Return *address* if it is a plain ASCII ``local@domain``, else raise.

    Raises:
        EmailAddressError: Naming *field* and the masked address.
    """
    if not is_plain_address(address):
        msg = (
            f"{field}: {mask_address(address)!r} is not an ASCII address of the form "
            "local@domain.tld (internationalised addresses are not supported)"
        )
        raise EmailAddressError(msg)
    return address


@attrs.frozen
class Mailbox:
    """An address with an optional display name, for ``From``.

    Raises:
        EmailAddressError: If the address is not a plain ASCII ``local@domain``.

    .. versionadded:: 0.1.0
    """

    address: str
    name: str | None = None

    def __attrs_post_init__(self) -> None:
        check_address(self.address, "address")

    @property
    def domain(self) -> str:
        """The part after ``@``."""
        return self.address.rpartition("@")[2]


def _encoded_words(value: str) -> list[str]:
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > _CHUNK_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
            chunk = bytearray()
        chunk += data
    if chunk:
        words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?=")
    return words


def _fold(name: str, words: list[str]) -> str:
    lines: list[str] = []
    current = f"{name}:"
    for word in words:
        if len(current) + 1 + len(word) > _LINE and current != f"{name}:":
            lines.append(current)
            current = f" {word}"
        else:
            current = f"{current} {word}"
    lines.append(current)
    return "\r\n".join(lines) + "\r\n"


def _needs_encoding(value: str) -> bool:
    return not value.isascii() or "=?" in value


@functools.lru_cache(maxsize=1024)
def encode_header(name: str, value: str) -> str:
    r"""Return the header line(s) ``name: value\r\n``, one-lined, folded and encoded.

    >>> encode_header("Subject", "Hello\r\nBcc: x@example.com")
    'Subject: Hello Bcc: x@example.com\r\n'
    >>> encode_header("Subject", "नमस्ते")
    'Subject: =?utf-8?b?4KSo4KSu4KS44KWN4KSk4KWH?=\r\n'

    Raises:
        ValueError: If *name* is not a header name.
    """
    if not _HEADER_NAME.fullmatch(name):
        msg = f"header name {name!r} is not printable ASCII without ':' or spaces"
        raise ValueError(msg)
    value = one_line(value)
    if _needs_encoding(value):
        return _fold(name, _encoded_words(value))
    return _fold(name, value.split(" ") if value else [])


def _mailbox_header(name: str, mailbox: Mailbox) -> str:
    display = one_line(mailbox.name or "")
    if not display:
        return f"{name}: {mailbox.address}\r\n"
    if _needs_encoding(display):
        words = _encoded_words(display)
    elif _ATOM_PHRASE.fullmatch(display):
        words = display.split(" ")
    else:
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        words = [f'"{quoted}"']
    return _fold(name, [*words, f"<{mailbox.address}>"])


def _body(text: str) -> tuple[str, bytes]:
    """Return the transfer encoding and the encoded body (CRLF lines, ending in CRLF)."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    if not normal.endswith("\n"):
        normal += "\n"
    crlf = normal.replace("\n", "\r\n").encode("utf-8")
    if crlf.isascii() and "=_" not in normal and not _LONG_LINE.search(normal):
        return "7bit", crlf
    # Quoted-printable triples every non-ASCII byte; base64 grows everything by a third.
    non_ascii = len(crlf) - len(normal.encode("ascii", "ignore")) - normal.count("\n")
    if non_ascii * 6 < len(crlf):
        qp = binascii.b2a_qp(crlf, istext=True)
        if not qp.endswith(b"\r\n"):
            qp += b"\r\n"
        return "quoted-printable", qp
    # Lines of 76 characters, each ending in CRLF (the last too): what
    # base64.encodebytes writes with LF, encoded in one call rather than one per line.
    encoded = binascii.b2a_base64(crlf, newline=False)
    lines = [encoded[at : at + 76] for at in range(0, len(encoded), 76)]
    return "base64", b"\r\n".join(lines) + b"\r\n"


@functools.lru_cache(maxsize=4)
def _date_header_utc(date: datetime) -> str:
    return f"Date: {format_datetime(date, usegmt=True)}\r\n"


def _date_header(date: datetime) -> str:
    """The ``Date`` header, in UTC, to the second (the last few are kept: one clock)."""
    return _date_header_utc(date.astimezone(UTC).replace(microsecond=0))


def _boundary(seed: str) -> str:
    return "=_cx_" + hashlib.blake2b(seed.encode("utf-8"), digest_size=12).hexdigest()


def build_message(
    message: OutboundMessage,
    *,
    sender: Mailbox,
    date: datetime,
    extra_headers: Mapping[str, str] | None = None,
) -> bytes:
    """Write *message* as a ``multipart/alternative`` email, ready for SMTP DATA.

    Args:
        message: The rendered message; its parts are written in the order
            ``text/plain``, ``text/x-amp-html``, ``text/html``.
        sender: The ``From`` mailbox.
        date: The ``Date``.
        extra_headers: More headers, after the message's own.

    Raises:
        EmailAddressError: If the recipient is missing or not a plain address.
        ValueError: If a header would replace one this function writes
            (``From``, ``Content-Type``...) or has an invalid name.

    .. versionadded:: 0.1.0
    """
    if message.to is None:
        msg = f"message {message.invitation_id!r} has no recipient (to is None)"
        raise EmailAddressError(msg)
    to = check_address(message.to, "to")
    head = [
        _mailbox_header("From", sender),
        f"To: {to}\r\n",
        encode_header("Subject", message.subject or ""),
        _date_header(date),
    ]
    for source in (message.headers, extra_headers or {}):
        for name, value in source.items():
            if name.lower() in _RESERVED:
                msg = f"header {name!r} is written by the channel and cannot be given"
                raise ValueError(msg)
            head.append(encode_header(name, value))
    boundary = _boundary(f"{message.invitation_id}\0{message.headers.get('Message-ID', '')}")
    head.append("MIME-Version: 1.0\r\n")
    head.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n')
    chunks = ["".join(head).encode("ascii"), b"\r\n"]
    for media_type in MIME_ORDER:
        body = message.parts.get(media_type)
        if body is None:
            continue
        encoding, data = _body(body)
        chunks.append(
            f"--{boundary}\r\nContent-Type: {media_type}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode("ascii")
        )
        chunks.append(data)
        chunks.append(b"\r\n")  # the CRLF before a boundary belongs to the boundary
    unknown = set(message.parts) - set(MIME_ORDER)
    if unknown:
        msg = f"parts {sorted(unknown)} are not email alternatives (expected {list(MIME_ORDER)})"
        raise ValueError(msg)
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks)
