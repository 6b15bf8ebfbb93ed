"""Kiosks in the SQLite store: the devices, their keys and their heartbeats."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cxcore.ports.store import ApiKey, ConflictError, Kiosk, KioskHeartbeat, StoreError
from cxcore.stores._feed_rows import API_KEY_COLUMNS, api_key_row
from cxcore.stores._kiosk_rows import KIOSK_COLUMNS, kiosk_from_row, kiosk_row
from cxcore.stores._rows import maybe_micros, micros
from cxcore.stores.sqlite._base import _Base

_SELECT = f"SELECT {', '.join(KIOSK_COLUMNS)} FROM kiosks"


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

        def write(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM kiosks WHERE id = ?", (kiosk.id,)).fetchone():
                msg = f"a kiosk with id {kiosk.id!r} is stored"
                raise ConflictError(msg)
            if c.execute("SELECT 1 FROM api_keys WHERE id = ?", (key.id,)).fetchone():
                msg = f"an API key with id {key.id!r} is already stored"
                raise ConflictError(msg)
            c.execute(
                f"INSERT INTO api_keys ({', '.join(API_KEY_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                api_key_row(key),
            )
            marks = ", ".join("?" * len(KIOSK_COLUMNS))
            c.execute(
                f"INSERT INTO kiosks ({', '.join(KIOSK_COLUMNS)}) VALUES ({marks})",
                kiosk_row(kiosk),
            )
            self._audit(
                c, "kiosk", kiosk.id, "added", key=key.id, store=kiosk.store,
                touchpoint=kiosk.touchpoint, survey=kiosk.survey_id,
            )  # fmt: skip

        await self._write(write)

    async def kiosk(self, kiosk_id: str) -> Kiosk | None:
        """The kiosk with this id, revoked or not."""
        row = await self._read(
            lambda c: c.execute(_SELECT + " WHERE id = ?", (kiosk_id,)).fetchone()
        )
        return None if row is None else kiosk_from_row(row)

    async def kiosk_by_key(self, key_id: str) -> Kiosk | None:
        """The kiosk whose device key has this public id."""
        row = await self._read(
            lambda c: c.execute(_SELECT + " WHERE key_id = ?", (key_id,)).fetchone()
        )
        return None if row is None else kiosk_from_row(row)

    async def kiosks(self) -> list[Kiosk]:
        """Every kiosk, by id."""
        rows = await self._read(lambda c: c.execute(_SELECT + " ORDER BY id").fetchall())
        return [kiosk_from_row(row) for row in rows]

    async def revoke_kiosk(self, kiosk_id: str, *, at: datetime) -> Kiosk:
        """Revoke a kiosk and its key at once; a repeat keeps the first time.

        Raises:
            StoreError: If there is no such kiosk.
        """

        def write(c: sqlite3.Connection) -> Kiosk:
            row = c.execute(_SELECT + " WHERE id = ?", (kiosk_id,)).fetchone()
            if row is None:
                msg = f"no kiosk {kiosk_id!r} is stored"
                raise StoreError(msg)
            changed = c.execute(
                "UPDATE kiosks SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (micros(at), kiosk_id),
            ).rowcount
            c.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (micros(at), kiosk_from_row(row).key_id),
            )
            if changed:
                self._audit(c, "kiosk", kiosk_id, "revoked")
            return kiosk_from_row(c.execute(_SELECT + " WHERE id = ?", (kiosk_id,)).fetchone())

        return await self._write(write)

    async def kiosk_heartbeat(self, kiosk_id: str, beat: KioskHeartbeat) -> Kiosk:
        """Record a heartbeat: seen, queue length, refused answers added, last answer kept latest.

        Raises:
            StoreError: If there is no such kiosk.
        """

        def write(c: sqlite3.Connection) -> Kiosk:
            changed = c.execute(
                "UPDATE kiosks SET seen_at = ?, queue_length = ?, dropped = dropped + ?, "
                "last_answer_at = CASE WHEN last_answer_at IS NULL OR ? > last_answer_at "
                "THEN ? ELSE last_answer_at END WHERE id = ?",
                (
                    micros(beat.at),
                    beat.queue_length,
                    beat.dropped,
                    maybe_micros(beat.last_answer_at),
                    maybe_micros(beat.last_answer_at),
                    kiosk_id,
                ),
            ).rowcount
            if not changed:
                msg = f"no kiosk {kiosk_id!r} is stored"
                raise StoreError(msg)
            return kiosk_from_row(c.execute(_SELECT + " WHERE id = ?", (kiosk_id,)).fetchone())

        return await self._write(write)
