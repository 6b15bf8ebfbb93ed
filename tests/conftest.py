"""Shared test configuration, the PostgreSQL server the store tests use, and an SMTP server."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from cxcore.testing import postgres_schema

if TYPE_CHECKING:
    from tests.smtp_server import SmtpServer

# CI machines are shared and noisy: never fail a property on timing.
settings.register_profile(
    "ci", deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

POSTGRES_ENV = "CXCORE_TEST_POSTGRES"
DEFAULT_POSTGRES_DSN = "postgresql://cxcore:cxcore@127.0.0.1:54329/cxcore"
"""What `.ci/postgres start` prints; tried when CXCORE_TEST_POSTGRES is not set."""


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The DSN of the PostgreSQL server for the store tests.

    It is CXCORE_TEST_POSTGRES, or else the server `.ci/postgres start` runs.
    Without a reachable server the tests that need one are skipped, except in
    CI (CI set) or when CXCORE_TEST_POSTGRES names a server: then they fail.
    """
    given = os.environ.get(POSTGRES_ENV, "")
    dsn = given or DEFAULT_POSTGRES_DSN
    problem = _postgres_problem(dsn)
    if problem is None:
        return dsn
    how = f"start one with `.ci/postgres start` and set {POSTGRES_ENV} to the DSN it prints"
    if given or os.environ.get("CI"):
        pytest.fail(f"the PostgreSQL store tests need a server: {problem}; {how}", pytrace=False)
    pytest.skip(f"no PostgreSQL server for the store tests ({problem}); {how}")


def _postgres_problem(dsn: str) -> str | None:
    try:
        import psycopg  # noqa: PLC0415 - only the PostgreSQL tests need it
        import psycopg_pool  # noqa: F401, PLC0415
    except ModuleNotFoundError as exc:
        return f'{exc.name} is not installed (pip install "psycopg[binary]" psycopg-pool)'
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to {_where(dsn)}: {' '.join(str(exc).split())}"
    return None


def _where(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    parts = conninfo_to_dict(dsn)
    return f"{parts.get('host', '')}:{parts.get('port', '5432')}/{parts.get('dbname', '')}"


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A DSN whose tables go in a fresh, empty schema of the test server, dropped afterwards."""
    with postgres_schema(postgres_server) as dsn:
        yield dsn


def copy_postgres_to_sqlite(dsn: str, path: Path) -> None:
    """Copy every table of the DSN's schema, every row and column, into a new SQLite file.

    The contract tests that look inside a SQLite store's file (for a person's
    identifiers, for addresses in the clear) look at this copy of a
    PostgreSQL store's tables.
    """
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    path.unlink(missing_ok=True)
    target = sqlite3.connect(path)
    try:
        with psycopg.connect(dsn) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                )
            ]
            assert tables, "the PostgreSQL store has no tables to copy"
            for table in tables:
                cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                columns = [d.name for d in cur.description or ()]
                quoted = ", ".join(f'"{c}"' for c in columns)
                target.execute(f'CREATE TABLE "{table}" ({quoted})')
                target.executemany(
                    f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(columns))})',
                    cur.fetchall(),
                )
        target.commit()
    finally:
        target.close()


@pytest.fixture
def postgres_snapshot() -> Callable[[str, Path], None]:
    """:func:`copy_postgres_to_sqlite`, for tests that inspect a PostgreSQL store's tables as a file."""
    return copy_postgres_to_sqlite


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Opens an empty store of each backend: ``async with any_store(clock=...) as store``.

    The PostgreSQL one gets a fresh schema of the test server (skipped without
    one, failed in CI), as the store contract's own fixture does.
    """
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_dsn")
        from cxcore.stores import PostgresStore  # noqa: PLC0415 - psycopg only with a server

        return lambda **kw: PostgresStore(dsn, **kw)
    from cxcore.stores import SQLiteStore  # noqa: PLC0415

    return lambda **kw: SQLiteStore(tmp_path / "cx.db", **kw)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    """A real SMTP server on loopback requiring STARTTLS and AUTH (see ``tests/smtp_server.py``).

    Its CA file is ``tmp_path / "ca.pem"``, where a deployment file in
    ``tmp_path`` finds it as ``tls_ca_file = "ca.pem"``.
    """
    from tests.smtp_server import serve_smtp  # noqa: PLC0415 - aiosmtpd and trustme on use

    with serve_smtp(tmp_path) as server:
        yield server
