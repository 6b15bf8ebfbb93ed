"""API keys: issued once, kept only as digests, checked in constant time.

A key reads ``cxk_<id>_<secret>``. The *id* is public: it names the key in
lists, logs and audit entries. The *secret* is 32 random bytes, shown once
when the key is issued; the store keeps only its SHA-256 digest, so a copy of
the database opens nothing. Checking a key looks it up by id and compares
digests with ``hmac.compare_digest``.

>>> from datetime import UTC, datetime
>>> issued = issue_api_key("pos-bazaar", ["interactions"], at=datetime(2026, 12, 7, tzinfo=UTC))
>>> issued.secret.startswith("cxk_" + issued.key.id + "_"), issued.key.digest in issued.secret
(True, False)
>>> key_id, secret = parse_api_key(issued.secret)
>>> key_id == issued.key.id, secret_digest(secret) == issued.key.digest
(True, True)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime

import attrs

from cxcore.ports.store import ApiKey, Store

__all__ = ["IssuedKey", "check_api_key", "issue_api_key", "parse_api_key", "secret_digest"]

_PREFIX = "cxk"
_KEY = re.compile(r"cxk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@attrs.frozen(repr=False)
class IssuedKey:
    """A new key: the full key to hand over once, and the record the store keeps.

    Attributes:
        secret: The whole key, ``cxk_<id>_<secret>``. Show it once; it is not stored.
        key: The stored record (its digest, name and scopes).

    .. versionadded:: 0.1.0
    """

    secret: str
    key: ApiKey

    def __repr__(self) -> str:
        return f"IssuedKey({self.key!r})"


def secret_digest(secret: str) -> str:
    """The SHA-256 digest of a key's secret part, in hex."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def issue_api_key(name: str, scopes: Iterable[str], *, at: datetime) -> IssuedKey:
    """Make a new key for *name* with *scopes*; store ``.key``, hand over ``.secret``.

    Raises:
        ValidationError: If the name or a scope is not acceptable.

    .. versionadded:: 0.1.0
    """
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = ApiKey(
        id=key_id, name=name, digest=secret_digest(secret), scopes=frozenset(scopes), created_at=at
    )
    return IssuedKey(f"{_PREFIX}_{key_id}_{secret}", record)


def parse_api_key(presented: str) -> tuple[str, str] | None:
    """The id and secret of a presented key, or ``None`` if it is not shaped like a key.

    .. versionadded:: 0.1.0
    """
    match = _KEY.fullmatch(presented.strip())
    return (match.group(1), match.group(2)) if match else None


async def check_api_key(store: Store, presented: str, scope: str) -> ApiKey | None:
    """The stored key *presented* is, if it is genuine, not revoked and allowed *scope*.

    Every way to fail gives ``None``, so a caller cannot tell a wrong secret
    from an unknown id; the digests are compared in constant time.

    .. versionadded:: 0.1.0
    """
    parsed = parse_api_key(presented)
    if parsed is None:
        return None
    key_id, secret = parsed
    stored = await store.api_key(key_id)
    digest = secret_digest(secret)
    if stored is None:
        hmac.compare_digest(digest, digest)  # the same work as a known id
        return None
    if not hmac.compare_digest(digest, stored.digest):
        return None
    if not stored.active or scope not in stored.scopes:
        return None
    return stored
