"""Kiosks as rows: what both backends write and read, whatever their dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cxcore.ports.store import Kiosk
from cxcore.stores._rows import from_micros, maybe_datetime, maybe_micros, micros, to_json

__all__ = ["KIOSK_COLUMNS", "kiosk_from_row", "kiosk_row"]

KIOSK_COLUMNS = (
    "id",
    "name",
    "store",
    "touchpoint",
    "survey_id",
    "key_id",
    "locales",
    "agent_mode",
    "created_at",
    "revoked_at",
    "seen_at",
    "queue_length",
    "dropped",
    "last_answer_at",
)


def kiosk_row(kiosk: Kiosk) -> tuple[Any, ...]:
    """*kiosk* as a row of :data:`KIOSK_COLUMNS`."""
    return (
        kiosk.id,
        kiosk.name,
        kiosk.store,
        kiosk.touchpoint,
        kiosk.survey_id,
        kiosk.key_id,
        to_json(list(kiosk.locales)),
        kiosk.agent_mode,
        micros(kiosk.created_at),
        maybe_micros(kiosk.revoked_at),
        maybe_micros(kiosk.seen_at),
        kiosk.queue_length,
        kiosk.dropped,
        maybe_micros(kiosk.last_answer_at),
    )


def kiosk_from_row(row: Sequence[Any]) -> Kiosk:
    """A kiosk from a row of :data:`KIOSK_COLUMNS`."""
    (kiosk_id, name, store, touchpoint, survey_id, key_id, locales, agent_mode, created_at,
     revoked_at, seen_at, queue_length, dropped, last_answer_at) = row  # fmt: skip
    return Kiosk(
        id=kiosk_id,
        name=name,
        store=store,
        touchpoint=touchpoint,
        survey_id=survey_id,
        key_id=key_id,
        locales=tuple(json.loads(locales)),
        agent_mode=bool(agent_mode),
        created_at=from_micros(created_at),
        revoked_at=maybe_datetime(revoked_at),
        seen_at=maybe_datetime(seen_at),
        queue_length=queue_length,
        dropped=int(dropped),
        last_answer_at=maybe_datetime(last_answer_at),
    )
