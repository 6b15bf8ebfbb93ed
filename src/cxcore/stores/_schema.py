"""The store schema, as numbered migrations. A store created by any version opens in a newer one.

Times are whole microseconds since the epoch (UTC) in 64-bit integers, so they
sort, compare and aggregate the same way in SQLite and PostgreSQL.
Suppressed addresses are kept only as digests.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_V1 = (
    """CREATE TABLE surveys (
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        stored_at BIGINT NOT NULL,
        PRIMARY KEY (id, version)
    )""",
    """CREATE TABLE responses (
        id TEXT PRIMARY KEY,
        survey_id TEXT NOT NULL,
        survey_version INTEGER NOT NULL,
        status TEXT NOT NULL,
        respondent TEXT NOT NULL,
        channel TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        completed_at BIGINT,
        customer_id TEXT,
        agent_id TEXT,
        interaction_id TEXT,
        invitation_id TEXT,
        locale TEXT NOT NULL,
        answers TEXT NOT NULL,
        context TEXT NOT NULL,
        anonymised_at BIGINT
    )""",
    "CREATE INDEX responses_by_survey ON responses (survey_id, updated_at)",
    "CREATE INDEX responses_by_invitation ON responses (invitation_id, updated_at)",
    "CREATE INDEX responses_by_customer ON responses (customer_id)",
    """CREATE TABLE submissions (
        idempotency_key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        response_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        received_at BIGINT NOT NULL
    )""",
    "CREATE INDEX submissions_by_response ON submissions (response_id)",
    """CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        survey_id TEXT NOT NULL,
        survey_version INTEGER NOT NULL,
        channel TEXT NOT NULL,
        customer_id TEXT,
        address TEXT,
        created_at BIGINT NOT NULL,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX invitations_by_customer ON invitations (customer_id)",
    "CREATE INDEX invitations_by_address ON invitations (address)",
    """CREATE TABLE dispositions (
        invitation_id TEXT NOT NULL,
        disposition TEXT NOT NULL,
        at BIGINT NOT NULL,
        detail TEXT,
        PRIMARY KEY (invitation_id, disposition)
    )""",
    """CREATE TABLE consent (
        person TEXT NOT NULL,
        channel TEXT NOT NULL,
        purpose TEXT NOT NULL,
        granted INTEGER NOT NULL,
        source TEXT NOT NULL,
        recorded_at BIGINT NOT NULL
    )""",
    "CREATE INDEX consent_by_person ON consent (person, channel, purpose, recorded_at)",
    """CREATE TABLE suppressions (
        address_hash TEXT NOT NULL,
        channel TEXT NOT NULL,
        reason TEXT NOT NULL,
        since BIGINT NOT NULL,
        PRIMARY KEY (address_hash, channel)
    )""",
    """CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        invitation_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        state TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        claimed_by TEXT,
        claimed_until BIGINT,
        provider_id TEXT,
        last_error TEXT,
        updated_at BIGINT NOT NULL
    )""",
    "CREATE INDEX outbox_by_state ON outbox (state, due_at)",
    "CREATE INDEX outbox_by_invitation ON outbox (invitation_id)",
    """CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        opened_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        due_at BIGINT,
        response_id TEXT,
        customer_id TEXT
    )""",
    "CREATE INDEX cases_by_status ON cases (status, due_at)",
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at BIGINT NOT NULL,
        entity TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
)

MIGRATIONS: Sequence[Sequence[str]] = (_V1,)
"""Migration *n* (counting from 1) brings a store from schema version n-1 to n."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this cxcore writes."""
