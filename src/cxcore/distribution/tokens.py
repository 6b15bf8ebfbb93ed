"""Signed invitation tokens: opaque, expiring, one salt per purpose, with rotating keys."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from cxcore.errors import CxError

if TYPE_CHECKING:
    from itsdangerous import Signer

    from cxcore.ports.clock import Clock

__all__ = [
    "SHORT_CODE",
    "SHORT_CODE_LENGTH",
    "ExpiredTokenError",
    "InvitationTokens",
    "TamperedTokenError",
    "TokenError",
    "TokenPurpose",
    "TokenService",
    "WrongPurposeError",
]

_OPAQUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_PHONE_LIKE = re.compile(r"\+?[0-9]{7,15}")
_HEX = re.compile(r"[0-9a-f]{1,16}")
_MIN_KEY_BYTES = 32
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SHORT_CODE_LENGTH = 12
"""How long a short link's code is (:meth:`TokenService.short_code`)."""
SHORT_CODE = re.compile(r"[0-9A-Za-z]{12}")
"""What a short link's code looks like."""


class TokenPurpose(enum.StrEnum):
    """What a token may be used for; each purpose signs with its own salt.

    .. versionadded:: 0.1.0
    """

    SURVEY = "survey"
    """The survey link, and one-click scores in the message."""
    UNSUBSCRIBE = "unsubscribe"
    """The one-click unsubscribe link."""
    AMP = "amp"
    """The form inside an AMP for Email message."""


class TokenError(CxError, ValueError):
    """A token cannot be accepted; the subclass says why.

    .. versionadded:: 0.1.0
    """


class TamperedTokenError(TokenError):
    """The token is malformed, or its signature does not match any key.

    .. versionadded:: 0.1.0
    """


class ExpiredTokenError(TokenError):
    """The signature is good, but the token expired.

    Attributes:
        expired_at: When it expired.
        opaque_id: The id it was issued for: genuine, since the signature
            holds, so a "this survey has closed" page can still be shown in the
            invitation's language.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, expired_at: datetime, opaque_id: str | None = None) -> None:
        super().__init__(message)
        self.expired_at = expired_at
        self.opaque_id = opaque_id


class WrongPurposeError(TokenError):
    """The token is genuine, but was issued for another purpose.

    Attributes:
        expected: The purpose it was checked for.
        actual: The purpose it was issued for.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, expected: TokenPurpose, actual: TokenPurpose) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


@attrs.frozen
class InvitationTokens:
    """The three tokens of one invitation, ready for :class:`~cxcore.Invitation`.

    Each is ``<invitation id>.<expiry, hex seconds>.<signature>``, signed for its
    own purpose (:class:`TokenPurpose`). They are bearer credentials: whoever
    holds one may answer, unsubscribe or post the AMP form as the invitation, so
    the repr shows what each is for and until when, never the signatures.

    >>> from datetime import timedelta
    >>> from cxcore.ports.clock import ManualClock
    >>> clock = ManualClock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    >>> service = TokenService(["k" * 32], clock=clock)
    >>> expires = clock.now() + timedelta(days=14)
    >>> service.issue_all("inv-1", expires)  # doctest: +NORMALIZE_WHITESPACE
    InvitationTokens(invitation_id='inv-1', expires_at='2026-12-04T12:00:00+00:00',
        token='inv-1.6b12ab40...', unsubscribe_token='inv-1.6b12ab40...',
        amp_token='inv-1.6b12ab40...')

    Attributes:
        token: The survey token: the survey link, and one-click scores in the message.
        unsubscribe_token: The token of the one-click unsubscribe link.
        amp_token: The token of the form inside an AMP for Email message.
        short_code: The code of the invitation's short survey link
            (:meth:`TokenService.short_code`), or ``None`` when not asked for.

    .. versionadded:: 0.1.0
    """

    token: str
    unsubscribe_token: str
    amp_token: str
    short_code: str | None = None

    def __repr__(self) -> str:
        # The signatures are secrets (bearer credentials): show the signed payloads only.
        def shown(token: str) -> str:
            payload, dot, _signature = token.rpartition(".")
            return repr(f"{payload}..." if dot else "...")

        opaque_id, _, expiry = self.token.rpartition(".")[0].rpartition(".")
        try:
            until = repr(datetime.fromtimestamp(int(expiry, 16), UTC).isoformat())
        except ValueError:
            until = "None"
        return (
            f"InvitationTokens(invitation_id={opaque_id!r}, expires_at={until}, "
            f"token={shown(self.token)}, unsubscribe_token={shown(self.unsubscribe_token)}, "
            f"amp_token={shown(self.amp_token)})"
        )


def _as_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def _signed_part(opaque_id: str, expires_at: datetime) -> str:
    """What a token of *opaque_id* until *expires_at* signs: ``<id>.<expiry, hex seconds>``.

    Raises:
        ValueError: If *opaque_id* is not 1-128 URL-safe characters, or looks
            like a phone number; or *expires_at* is naive.
    """
    given: object = opaque_id  # anything may have been passed
    if not isinstance(given, str) or not _OPAQUE.fullmatch(given):
        msg = (
            f"opaque_id: {opaque_id!r} is not an opaque id (expected 1-128 letters, digits, "
            "'_' or '-'; never an email address)"
        )
        raise ValueError(msg)
    if _PHONE_LIKE.fullmatch(opaque_id):
        msg = f"opaque_id: {opaque_id!r} looks like a phone number (expected an opaque id)"
        raise ValueError(msg)
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        msg = f"expires_at: {expires_at.isoformat()} has no time zone (expected aware)"
        raise ValueError(msg)
    return f"{opaque_id}.{int(expires_at.timestamp()):x}"


class _Signer:
    """What an itsdangerous :class:`~itsdangerous.Signer` signs, with its key derived once.

    ``Signer.sign`` derives its key (a SHA-256 of salt and secret) and starts an
    HMAC on every call; here the HMAC keyed with the derived key is made once
    and copied for each value. The signature is the same: the HMAC-SHA256 of
    the value under ``Signer.derive_key()``, URL-safe base64 without padding,
    after the signer's separator.
    """

    __slots__ = ("_mac", "_sep")

    def __init__(self, signer: Signer) -> None:
        self._mac = hmac.new(signer.derive_key(), digestmod=hashlib.sha256)
        self._sep = signer.sep.decode("ascii")

    def sign(self, value: str) -> str:
        """*value*, the separator, and its signature."""
        mac = self._mac.copy()
        mac.update(value.encode("ascii"))
        signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")
        return f"{value}{self._sep}{signature}"


class TokenService:
    """Signs and verifies invitation tokens.

    A token holds an opaque id (an invitation id, never an email address or a
    phone number) and its expiry, signed with HMAC-SHA256 and a salt of its
    purpose. Keys rotate: the first key signs, every key verifies, so tokens
    signed with a retired key keep working until they expire, as long as that
    key stays in the list.

    >>> from datetime import timedelta
    >>> from cxcore.ports.clock import ManualClock
    >>> clock = ManualClock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    >>> tokens = TokenService(["k" * 32], clock=clock)
    >>> t = tokens.issue("inv-1", TokenPurpose.SURVEY, clock.now() + timedelta(days=7))
    >>> tokens.verify(t, TokenPurpose.SURVEY)
    'inv-1'

    Args:
        keys: Secret keys, newest first, each at least 32 bytes.
        clock: Tells the time for expiry checks.
        namespace: Keeps tokens of one application away from another's that
            share a key.

    Raises:
        ValueError: If there is no key, or a key is too short.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, keys: Sequence[str | bytes], *, clock: Clock, namespace: str = "cxcore"
    ) -> None:
        if isinstance(keys, str | bytes) or not keys:
            msg = "keys: expected a non-empty list of secret keys, newest first"
            raise ValueError(msg)
        for i, key in enumerate(keys):
            if len(_as_bytes(key)) < _MIN_KEY_BYTES:
                msg = f"keys[{i}]: is {len(_as_bytes(key))} bytes long (expected at least 32)"
                raise ValueError(msg)
        from itsdangerous import Signer  # noqa: PLC0415 - only needed when signing

        self._clock = clock
        self._newest = _as_bytes(keys[0])
        self._short = hmac.new(self.derive_key("short-link"), digestmod=hashlib.sha256)
        # One signer per key and purpose, newest key first: the first signs, all verify.
        self._signers: dict[TokenPurpose, tuple[_Signer, ...]] = {
            purpose: tuple(
                _Signer(
                    Signer(
                        _as_bytes(key),
                        salt=f"{namespace}.token.{purpose.value}",
                        digest_method=hashlib.sha256,
                    )
                )
                for key in keys
            )
            for purpose in TokenPurpose
        }

    def __repr__(self) -> str:
        # Never the keys.
        return f"TokenService(keys={len(self._signers[TokenPurpose.SURVEY])})"

    def derive_key(self, label: str) -> bytes:
        """A secret of its own for *label* (a session cookie's signer), derived from the newest key.

        It changes when the newest key changes: rotating keys ends what it signed.

        .. versionadded:: 0.1.0
        """
        return hmac.new(self._newest, f"cxcore.derived.{label}".encode(), hashlib.sha256).digest()

    def short_code(self, invitation_id: str) -> str:
        """The code of *invitation_id*'s short survey link: 12 letters and digits.

        A keyed digest of the invitation id (HMAC-SHA256 under a key derived
        from the newest key), so it cannot be guessed from the id, and the same
        invitation always gets the same code. It is stored with the invitation,
        and the collector finds the invitation by it (``/l/<code>``): about 71
        bits, a bearer credential like the survey token, with no expiry of its
        own (the invitation's applies). For channels where every character
        counts: an SMS, a DLT template variable (at most 30 characters).

        >>> from cxcore.ports.clock import SystemClock
        >>> code = TokenService(["k" * 32], clock=SystemClock()).short_code("inv-1")
        >>> len(code), code.isalnum()
        (12, True)

        .. versionadded:: 0.1.0
        """
        mac = self._short.copy()
        mac.update(invitation_id.encode())
        n = int.from_bytes(mac.digest()[:10], "big")  # 80 bits, more than 12 base-62 digits hold
        digits = []
        for _ in range(SHORT_CODE_LENGTH):
            n, digit = divmod(n, 62)
            digits.append(_BASE62[digit])
        return "".join(digits)

    def issue(self, opaque_id: str, purpose: TokenPurpose, expires_at: datetime) -> str:
        """Sign *opaque_id* for *purpose*, valid until *expires_at*.

        Raises:
            ValueError: If *opaque_id* is not 1-128 URL-safe characters, or
                looks like a phone number; or *expires_at* is naive.
        """
        return self._signers[TokenPurpose(purpose)][0].sign(_signed_part(opaque_id, expires_at))

    def issue_all(
        self, invitation_id: str, expires_at: datetime, *, short_code: bool = False
    ) -> InvitationTokens:
        """The survey, unsubscribe and AMP tokens of one invitation, and its short code if asked.

        .. versionadded:: 0.1.0
        """
        payload = _signed_part(invitation_id, expires_at)
        signers = self._signers
        return InvitationTokens(
            token=signers[TokenPurpose.SURVEY][0].sign(payload),
            unsubscribe_token=signers[TokenPurpose.UNSUBSCRIBE][0].sign(payload),
            amp_token=signers[TokenPurpose.AMP][0].sign(payload),
            short_code=self.short_code(invitation_id) if short_code else None,
        )

    def verify(self, token: str, purpose: TokenPurpose) -> str:
        """Return the opaque id in *token*, if it is genuine, current and for *purpose*.

        Raises:
            TamperedTokenError: If it is malformed or its signature does not match.
            WrongPurposeError: If it is genuine, but for another purpose.
            ExpiredTokenError: If it is genuine, but expired.
        """
        purpose = TokenPurpose(purpose)
        payload = self._payload(token, purpose)
        if payload is None:
            for other in TokenPurpose:
                if other is not purpose and self._payload(token, other) is not None:
                    msg = f"token: issued for {other.value!r}, not {purpose.value!r}"
                    raise WrongPurposeError(msg, expected=purpose, actual=other)
            msg = f"token: the signature does not match (a {purpose.value} token was expected)"
            raise TamperedTokenError(msg)
        opaque_id, _, expiry_hex = payload.rpartition(".")
        expired_at = datetime.fromtimestamp(int(expiry_hex, 16), UTC)
        if self._clock.now() >= expired_at:
            msg = f"token: expired at {expired_at.isoformat()}"
            raise ExpiredTokenError(msg, expired_at=expired_at, opaque_id=opaque_id)
        return opaque_id

    def _payload(self, token: object, purpose: TokenPurpose) -> str | None:
        """The signed payload if *token* is exactly what one of *purpose*'s keys makes of it.

        Comparing with a fresh signature, rather than decoding the one given,
        also rejects the other spellings base64 allows for a last character.
        """
        if not isinstance(token, str) or not token.isascii():
            return None
        value, dot, _ = token.rpartition(".")
        opaque_id, dot2, expiry_hex = value.rpartition(".")
        if not (dot and dot2 and _OPAQUE.fullmatch(opaque_id) and _HEX.fullmatch(expiry_hex)):
            return None
        for signer in self._signers[purpose]:
            if hmac.compare_digest(signer.sign(value), token):
                return value
        return None
