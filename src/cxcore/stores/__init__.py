"""Store backends: SQLite (embedded, the default) and, to scale out, PostgreSQL."""

from cxcore.stores.sqlite import SQLiteStore

__all__ = ["SQLiteStore"]
