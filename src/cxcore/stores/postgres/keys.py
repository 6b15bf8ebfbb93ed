"""API keys in the PostgreSQL store: their digests, scopes and revocation."""

from __future__ import annotations

from datetime import datetime

from cxcore.ports.store import ApiKey, ConflictError, StoreError
from cxcore.stores._feed_rows import API_KEY_COLUMNS, api_key_from_row, api_key_row
from cxcore.stores._rows import micros
from cxcore.stores.postgres._base import _Base
from cxcore.stores.postgres._connection import Conn, _all, _one

_SELECT = f"SELECT {', '.join(API_KEY_COLUMNS)} FROM api_keys"


class _Keys(_Base):
    """API keys, kept as digests."""

    async def add_api_key(self, key: ApiKey) -> None:
        """Store an API key (its digest, never its secret).

        Raises:
            ConflictError: If a key with the same id is stored.
        """

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
            await self._audit(
                c, "api_key", key.id, "issued", name=key.name, scopes=",".join(sorted(key.scopes))
            )

        await self._write(write)

    async def api_key(self, key_id: str) -> ApiKey | None:
        """The API key with this public id, revoked or not."""
        row = await self._read(lambda c: _one(c, _SELECT + " WHERE id = %s", (key_id,)))
        return None if row is None else api_key_from_row(row)

    async def api_keys(self) -> list[ApiKey]:
        """Every API key, oldest first."""
        rows = await self._read(lambda c: _all(c, _SELECT + ' ORDER BY created_at, id COLLATE "C"'))
        return [api_key_from_row(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, at: datetime) -> ApiKey:
        """Revoke an API key; a repeat keeps the first time.

        Raises:
            StoreError: If there is no such key.
        """

        async def write(c: Conn) -> ApiKey:
            changed = await _one(
                c,
                "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL "
                "RETURNING 1",
                (micros(at), key_id),
            )
            row = await _one(c, _SELECT + " WHERE id = %s", (key_id,))
            if row is None:
                msg = f"no API key {key_id!r} is stored"
                raise StoreError(msg)
            if changed is not None:
                await self._audit(c, "api_key", key_id, "revoked")
            return api_key_from_row(row)

        return await self._write(write)
