"""DKIM signing of outgoing survey emails, with dkimpy (the ``email-dkim`` extra)."""

from __future__ import annotations

from typing import Final

import attrs

from cxcore_channels.email.errors import EmailConfigError

__all__ = ["SIGNED_HEADERS", "DkimSigner"]

SIGNED_HEADERS: Final = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
"""The headers signed by default. Both List-Unsubscribe headers are among them,
as mailbox providers require for one-click unsubscribe."""


def _headers(value: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(value)


def _key(value: bytes | str) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else value


@attrs.frozen(repr=False)
class DkimSigner:
    """Signs messages with one DKIM key (relaxed/relaxed, rsa-sha256 or ed25519-sha256).

    Args:
        domain: The signing domain (``d=``), usually the ``From`` domain.
        selector: The selector (``s=``): the key is published at
            ``<selector>._domainkey.<domain>``.
        private_key: The private key, PEM (RSA) or base64 (Ed25519).
        algorithm: ``"rsa-sha256"`` or ``"ed25519-sha256"``.
        headers: The headers to sign; must include both List-Unsubscribe headers.

    Raises:
        EmailConfigError: If dkimpy is not installed, or a List-Unsubscribe
            header is left out of *headers*.

    .. versionadded:: 0.1.0
    """

    domain: str
    selector: str
    private_key: bytes = attrs.field(converter=_key)
    algorithm: str = "rsa-sha256"
    headers: tuple[str, ...] = attrs.field(default=SIGNED_HEADERS, converter=_headers)

    def __attrs_post_init__(self) -> None:
        try:
            import dkim  # type: ignore[import-untyped]  # noqa: F401, PLC0415 - optional dependency
        except ImportError as exc:
            msg = "DKIM signing needs dkimpy: pip install 'cxcore[email-dkim]'"
            raise EmailConfigError(msg) from exc
        lowered = {h.lower() for h in self.headers}
        missing = [
            h for h in ("List-Unsubscribe", "List-Unsubscribe-Post") if h.lower() not in lowered
        ]
        if missing:
            msg = f"headers: {list(self.headers)!r} leaves out {missing} (both must be signed)"
            raise EmailConfigError(msg)
        if self.algorithm not in ("rsa-sha256", "ed25519-sha256"):
            msg = f"algorithm: {self.algorithm!r} is not 'rsa-sha256' or 'ed25519-sha256'"
            raise EmailConfigError(msg)

    def sign(self, data: bytes) -> bytes:
        """Return *data* with a ``DKIM-Signature`` header in front.

        Raises:
            EmailConfigError: If the key cannot sign (a malformed key).
        """
        import dkim  # noqa: PLC0415 - optional

        try:
            signature = dkim.sign(
                data,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self.private_key,
                canonicalize=(b"relaxed", b"relaxed"),
                signature_algorithm=self.algorithm.encode("ascii"),
                include_headers=[h.encode("ascii") for h in self.headers],
                linesep=b"\r\n",
            )
        except dkim.DKIMException as exc:
            msg = f"DKIM key for {self.selector}._domainkey.{self.domain} cannot sign: {exc}"
            raise EmailConfigError(msg) from exc
        return bytes(signature) + data

    def __repr__(self) -> str:
        return f"DkimSigner(domain={self.domain!r}, selector={self.selector!r}, key=<hidden>)"
