"""A fresh PostgreSQL schema per test or benchmark, so runs never see each other's tables."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

__all__ = ["postgres_schema"]


@contextlib.contextmanager
def postgres_schema(server: str, *, prefix: str = "test") -> Iterator[str]:
    """Create an empty schema on *server*; yield a DSN whose tables go there; drop it after.

    A :class:`~cxcore.stores.PostgresStore` opened on the DSN creates its
    tables in that schema (it is first on the connection's ``search_path``),
    so tests and benchmarks can share one server without sharing data. Needs
    ``cxcore[postgres]``.

    Args:
        server: The DSN of the server (e.g. what ``.ci/postgres start`` prints).
        prefix: The start of the schema's name; a random suffix follows.

    .. versionadded:: 0.1.0
    """
    import psycopg  # noqa: PLC0415 - only with a server
    from psycopg import sql  # noqa: PLC0415
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415

    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield make_conninfo(server, options=f"-csearch_path={schema}")
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
