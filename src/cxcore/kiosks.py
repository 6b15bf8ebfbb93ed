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
from datetime import datetime, timedelta
from typing import Any

import attrs

from cxcore.api_keys import issue_api_key
from cxcore.ports.store import ApiKey, Kiosk

__all__ = ["ALIVE_WITHIN", "KIOSK_SCOPE", "IssuedKiosk", "device_json", "issue_kiosk"]

KIOSK_SCOPE = "kiosk"
"""The scope of a kiosk's device key: it may fetch its settings, post answers and heartbeats."""

ALIVE_WITHIN = timedelta(minutes=5)
"""A kiosk whose last heartbeat is older than this is shown as silent."""


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


def device_json(kiosk: Kiosk, now: datetime) -> dict[str, Any]:
    """*kiosk* as head office sees it (``/kiosk/api/devices``, ``cxcore kiosk list --json``).

    .. versionadded:: 0.1.0
    """

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": kiosk.id,
        "name": kiosk.name,
        "store": kiosk.store,
        "touchpoint": kiosk.touchpoint,
        "survey": kiosk.survey_id,
        "active": kiosk.active,
        "alive": kiosk.alive(now, ALIVE_WITHIN),
        "seen_at": iso(kiosk.seen_at),
        "queue_length": kiosk.queue_length,
        "dropped": kiosk.dropped,
        "last_answer_at": iso(kiosk.last_answer_at),
        "revoked_at": iso(kiosk.revoked_at),
    }
