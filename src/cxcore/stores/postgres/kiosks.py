"""Kiosks in the PostgreSQL store: the devices, their keys and their heartbeats."""

from __future__ import annotations

from datetime import datetime

from cxcore.ports.store import ApiKey, ConflictError, Kiosk, KioskHeartbeat, StoreError
from cxcore.stores._feed_rows import API_KEY_COLUMNS, api_key_row
from cxcore.stores._kiosk_rows import KIOSK_COLUMNS, kiosk_from_row, kiosk_row
from cxcore.stores._rows import maybe_micros, micros
from cxcore.stores.postgres._base import _Base
from cxcore.stores.postgres._connection import Conn, _all, _one

_SELECT = f"SELECT {', '.join(KIOSK_COLUMNS)} FROM kiosks"
_RETURNING = f" RETURNING {', '.join(KIOSK_COLUMNS)}"


class _Kiosks(_Base):
    """Kiosks: each with its device key, revoked together, and its last heartbeat."""

    async def add_kiosk(self, kiosk: Kiosk, key: ApiKey) -> None:
        """Store a kiosk and its device key together.

        Raises:
            ConflictError: If the kiosk's id or the key's id is stored.
            StoreError: If the kiosk does not name the key.
        """
        if kiosk.key_id != key.id:
            msg = f"kiosk {kiosk.id!r} names key {kiosk.key_id!r}, not the key given ({key.id!r})"
            raise StoreError(msg)

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                f"INSERT INTO api_keys ({', '.join(API_KEY_COLUMNS)}) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING 1",
                api_key_row(key),
            )
            if inserted is None:
                msg = f"an API key with id {key.id!r} is already stored"
                raise ConflictError(msg)
            marks = ", ".join(["%s"] * len(KIOSK_COLUMNS))
            inserted = await _one(
                c,
                f"INSERT INTO kiosks ({', '.join(KIOSK_COLUMNS)}) VALUES ({marks}) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
                kiosk_row(kiosk),
            )
            if inserted is None:
                msg = f"a kiosk with id {kiosk.id!r} is stored"
                raise ConflictError(msg)
            await self._audit(
                c, "kiosk", kiosk.id, "added", key=key.id, store=kiosk.store,
                touchpoint=kiosk.touchpoint, survey=kiosk.survey_id,
            )  # fmt: skip

        await self._write(write)

    async def kiosk(self, kiosk_id: str) -> Kiosk | None:
        """The kiosk with this id, revoked or not."""
        row = await self._read(lambda c: _one(c, _SELECT + " WHERE id = %s", (kiosk_id,)))
        return None if row is None else kiosk_from_row(row)

    async def kiosk_by_key(self, key_id: str) -> Kiosk | None:
        """The kiosk whose device key has this public id."""
        row = await self._read(lambda c: _one(c, _SELECT + " WHERE key_id = %s", (key_id,)))
        return None if row is None else kiosk_from_row(row)

    async def kiosks(self) -> list[Kiosk]:
        """Every kiosk, by id."""
        rows = await self._read(lambda c: _all(c, _SELECT + ' ORDER BY id COLLATE "C"'))
        return [kiosk_from_row(row) for row in rows]

    async def revoke_kiosk(self, kiosk_id: str, *, at: datetime) -> Kiosk:
        """Revoke a kiosk and its key at once; a repeat keeps the first time.

        Raises:
            StoreError: If there is no such kiosk.
        """

        async def write(c: Conn) -> Kiosk:
            changed = await _one(
                c,
                "UPDATE kiosks SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL "
                "RETURNING key_id",
                (micros(at), kiosk_id),
            )
            row = await _one(c, _SELECT + " WHERE id = %s", (kiosk_id,))
            if row is None:
                msg = f"no kiosk {kiosk_id!r} is stored"
                raise StoreError(msg)
            kiosk = kiosk_from_row(row)
            await c.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                (micros(at), kiosk.key_id),
            )
            if changed is not None:
                await self._audit(c, "kiosk", kiosk_id, "revoked")
            return kiosk

        return await self._write(write)

    async def kiosk_heartbeat(self, kiosk_id: str, beat: KioskHeartbeat) -> Kiosk:
        """Record a heartbeat: seen, queue length, refused answers added, last answer kept latest.

        Raises:
            StoreError: If there is no such kiosk.
        """

        async def write(c: Conn) -> Kiosk:
            row = await _one(
                c,
                "UPDATE kiosks SET seen_at = %s, queue_length = %s, dropped = dropped + %s, "
                "last_answer_at = GREATEST(last_answer_at, %s) WHERE id = %s" + _RETURNING,
                (
                    micros(beat.at),
                    beat.queue_length,
                    beat.dropped,
                    maybe_micros(beat.last_answer_at),
                    kiosk_id,
                ),
            )
            if row is None:
                msg = f"no kiosk {kiosk_id!r} is stored"
                raise StoreError(msg)
            return kiosk_from_row(row)

        return await self._write(write)
