"""Store backends: SQLite (embedded, the default) and, to scale out, PostgreSQL.

:class:`PostgresStore` is imported on first use, so ``import cxcore.stores``
does not need (or load) psycopg; it comes with the ``postgres`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cxcore.stores.sqlite import SQLiteStore

if TYPE_CHECKING:
    from cxcore.stores.postgres import PostgresStore

__all__ = ["PostgresStore", "SQLiteStore"]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - a module attribute of any kind
    if name == "PostgresStore":
        try:
            from cxcore.stores.postgres import PostgresStore  # noqa: PLC0415 - psycopg loads on first use
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("psycopg"):
                raise
            msg = (
                f"PostgresStore needs {exc.name}: install cxcore with the postgres extra "
                '(pip install "cxcore[postgres]")'
            )
            raise ModuleNotFoundError(msg, name=exc.name) from exc
        return PostgresStore
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
