"""API keys in the SQLite store: their digests, scopes and revocation."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from cxcore.ports.store import ApiKey, ConflictError, StoreError
from cxcore.stores._feed_rows import API_KEY_COLUMNS, api_key_from_row, api_key_row
from cxcore.stores._rows import micros
from cxcore.stores.sqlite._base import _Base

_SELECT = f"SELECT {', '.join(API_KEY_COLUMNS)} FROM api_keys"


class _Keys(_Base):
    """API keys, kept as digests."""

    async def add_api_key(self, key: ApiKey) -> None:
        """Store an API key (its digest, never its secret).

        Raises:
            ConflictError: If a key with the same id is stored.
        """

        def write(c: sqlite3.Connection) -> None:
            if c.execute("SELECT 1 FROM api_keys WHERE id = ?", (key.id,)).fetchone():
                msg = f"an API key with id {key.id!r} is already stored"
                raise ConflictError(msg)
            c.execute(
                f"INSERT INTO api_keys ({', '.join(API_KEY_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                api_key_row(key),
            )
            self._audit(
                c, "api_key", key.id, "issued", name=key.name, scopes=",".join(sorted(key.scopes))
            )

        await self._write(write)

    async def api_key(self, key_id: str) -> ApiKey | None:
        """The API key with this public id, revoked or not."""
        row = await self._read(lambda c: c.execute(_SELECT + " WHERE id = ?", (key_id,)).fetchone())
        return None if row is None else api_key_from_row(row)

    async def api_keys(self) -> list[ApiKey]:
        """Every API key, oldest first."""
        rows = await self._read(
            lambda c: c.execute(_SELECT + " ORDER BY created_at, id").fetchall()
        )
        return [api_key_from_row(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, at: datetime) -> ApiKey:
        """Revoke an API key; a repeat keeps the first time.

        Raises:
            StoreError: If there is no such key.
        """

        def write(c: sqlite3.Connection) -> ApiKey:
            changed = c.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (micros(at), key_id),
            ).rowcount
            row = c.execute(_SELECT + " WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                msg = f"no API key {key_id!r} is stored"
                raise StoreError(msg)
            if changed:
                self._audit(c, "api_key", key_id, "revoked")
            return api_key_from_row(row)

        return await self._write(write)
