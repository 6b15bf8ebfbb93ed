"""Kiosks: touch screens in stores, each with a device key of its own.

A kiosk is added to a deployment with the survey it asks, the store it stands
in and where it stands (its touchpoint). It gets an API key with the scope
``kiosk``, shown once; the store keeps the kiosk and the key's digest together,
and revoking the kiosk revokes its key.

>>> from datetime import UTC, datetime
>>> issued = issue_kiosk(
...     "blr-01-exit", store="BLR-01", touchpoint="store_exit", survey_id="visit",
...     at=datetime(2026, 12, 7, tzinfo=UTC),
... )
>>> issued.kiosk.key_id == issued.key.id, sorted(issued.key.scopes), issued.key.name
(True, ['kiosk'], 'kiosk:blr-01-exit')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from cxcore.api_keys import issue_api_key
from cxcore.ports.store import ApiKey, Kiosk

__all__ = ["KIOSK_SCOPE", "IssuedKiosk", "issue_kiosk"]

KIOSK_SCOPE = "kiosk"
"""The scope of a kiosk's device key: it may fetch its settings, post answers and heartbeats."""


@attrs.frozen(repr=False)
class IssuedKiosk:
    """A new kiosk: its device key, to hand over once, and the records the store keeps.

    Attributes:
        secret: The whole device key, ``cxk_<id>_<secret>``. Enter it once on the
            device; it is not stored.
        kiosk: The kiosk's record.
        key: The key's record (its digest).

    .. versionadded:: 0.1.0
    """

    secret: str
    kiosk: Kiosk
    key: ApiKey

    def __repr__(self) -> str:
        return f"IssuedKiosk({self.kiosk.id!r}, key={self.key.id!r})"


def issue_kiosk(
    kiosk_id: str,
    *,
    store: str,
    touchpoint: str,
    survey_id: str,
    at: datetime,
    name: str | None = None,
    locales: Sequence[str] = ("en", "hi"),
    agent_mode: bool = True,
) -> IssuedKiosk:
    """Make a kiosk and its device key; store both with ``store.add_kiosk(kiosk, key)``.

    Args:
        kiosk_id: The device's id (``"blr-01-exit"``).
        store: The store it stands in.
        touchpoint: Where it stands (``"store_exit"``, ``"billing_counter"``).
        survey_id: The survey it asks.
        at: Now.
        name: What staff call it (default: its id).
        locales: The languages it offers, the first shown first.
        agent_mode: Whether staff may record what customers told them on it.

    Raises:
        ValidationError: Naming every setting that cannot be used.

    .. versionadded:: 0.1.0
    """
    issued = issue_api_key(f"kiosk:{kiosk_id}", [KIOSK_SCOPE], at=at)
    kiosk = Kiosk(
        id=kiosk_id,
        name=name or kiosk_id,
        store=store,
        touchpoint=touchpoint,
        survey_id=survey_id,
        key_id=issued.key.id,
        locales=tuple(locales),
        agent_mode=agent_mode,
        created_at=at,
    )
    return IssuedKiosk(issued.secret, kiosk, issued.key)
