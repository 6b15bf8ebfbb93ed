"""The store schema, as numbered migrations. A store created by any version opens in a newer one.

Times are whole microseconds since the epoch (UTC) in 64-bit integers, so they
sort, compare and aggregate the same way in SQLite and PostgreSQL.
Suppressed addresses are kept only as digests. JSON is kept as TEXT in both,
exactly as written, and read with ``json_extract`` (SQLite) or ``::jsonb``
(PostgreSQL).

The statements are shared by both dialects; the few words that differ are
placeholders that :func:`migrations` fills in:

``{serial_key}``
    An auto-increment primary key: ``INTEGER PRIMARY KEY`` in SQLite,
    ``BIGSERIAL PRIMARY KEY`` in PostgreSQL.
``{growing_key}``
    A key that never gives a number twice, even after the newest row is
    deleted: ``INTEGER PRIMARY KEY AUTOINCREMENT`` in SQLite (whose plain
    ``rowid`` reuses the largest number once its row is gone),
    ``BIGSERIAL PRIMARY KEY`` in PostgreSQL.
``{insertion_order}``
    Nothing in SQLite, whose implicit ``rowid`` already numbers rows in
    insertion order; in PostgreSQL an explicit ``rowid BIGSERIAL`` column, so
    that queries ordering by ``rowid`` (to break ties between equal times) read
    the same in both dialects.
``{scalar}``
    A column holding one context value as written: no type in SQLite (so a
    number stays a number and text stays text), ``JSONB`` in PostgreSQL.
``{clustered}``
    ``WITHOUT ROWID`` in SQLite, where the rows then live in their primary
    key's tree; nothing in PostgreSQL.
``{json_text_dimensions}``
    A statement only PostgreSQL runs (version 4); a statement that fills to
    nothing is left out.
``{byte_order}``
    Nothing in SQLite, whose text already compares byte by byte; in
    PostgreSQL ``COLLATE "C"``, the byte order its queries sort ids in, so an
    index on the column serves those queries' ``ORDER BY`` (an index in the
    database's default collation does not, even when that collation is
    ``C.UTF-8``).

Version 2 adds ``answer_scores``: one row per scored answer (NPS, CSAT, CES,
ratings...), with its value, when it was given, the response's status,
respondent kind and channel, and the context dimensions reports group by, each
in a plain column. The stores keep it in step with ``responses`` in the same
transaction, so scores are counted over plain columns, never by parsing
JSON. In SQLite its rows live in (survey, version, question, time) order, so
new answers are appended at the end of their question's run and a score
reads one contiguous stretch. (An index in group order, such as by store,
would spare the sort when counting, but measured 5x slower batch writes, since
every transaction then rewrites pages all over it.) Upgrading a version-1
store fills it from the stored responses (:data:`SCORES_BACKFILLED_AT`).

Version 3 replaces the outbox's ``outbox_by_state (state, due_at)`` with
``outbox_by_state_due (state, due_at, id)``: the order in which claims take
due sends, ``ORDER BY due_at, id``. With the old index, the sends due at one
instant (a bulk send schedules them all at once) came out of it unordered by
id, so every claim of a few hundred read and sorted all of them, and the work
of a bulk send grew with the square of its size. Now a claim reads its first
sends off the index and stops. The new index serves every query the old one did (those of
one state, and one state up to a due time), so the old one is dropped.
Upgrading builds the index inside the migration's transaction, which holds
writes to the outbox for as long as that takes (one to two seconds a
million sends).

Version 4 changes nothing in SQLite. In PostgreSQL it adds to
``answer_scores``, beside each JSONB ``d_`` column, a ``t_`` column the server
generates on every write: the value's JSON as ``TEXT`` (``"BLR-01"``, ``5``).
A frame sends every answer's dimension values to the client; from JSONB the
server spent about 0.2 s per million answers turning them into text, from
the ``t_`` columns it spends 0.03 s joining them into one JSON array. Counts
group by the ``t_`` columns too, and the client parses each group's text,
so ``5`` and ``5.0`` still count as one group; filters still match the
``d_`` columns. The ``d_`` columns are unchanged, so a process of an older
cxcore still open on the store reads and writes them as before. Upgrading
rewrites ``answer_scores`` inside the migration's transaction.

Version 5 adds the way back in. ``feed`` is the ordered record of what the
store took in (answers, opt-outs and opt-ins, delivery statuses), written in
the same transaction as each write; its ``seq`` only grows, and
``feed_positions`` keeps each consumer's durable position in it.
``api_keys`` keeps the keys of systems that call the collector, as digests.
Two lookups get their indexes: a reply's open invitation by address and
channel (which replaces the index by address alone), and an invitation by the
provider's id of its send. ``invitations_by_created`` serves the loading of
recent invitations (who was asked when).

Version 6 adds ``kiosks``, the in-store kiosks and the keys they answer with.

Version 7 gives ``invitations`` the business account its customer was asked
as one of (``account_id``), with an index by account and time: the account
window of the fatigue rules is read from the store, and checked in the
transaction that writes an invitation, like the person's own window. Older
invitations keep no account (``NULL``): an upgraded store counts the account
window from its first new invitation on. ``short_code`` is the code of an
invitation's short survey link, unique, found by its index when the link is
followed (``/l/<code>``). ``store_day_counts`` counts each
store's invitations a day, as the guarded writes that count against its
daily limit make them, in the same transaction (reminders too, queued
under a guard since: no new table or column).

Version 8 adds ``stratum_day_counts``: each trigger rule's invitations a day
in each stratum of its sampling (the store or agent of its ``by``), as the
guarded writes that name the stratum make them, in the same transaction, so
the sampling's ``min_per_day`` holds across processes. A stratum's count
starts at the first invitation an upgraded store writes: on the day of the
upgrade, the invitations made before it are not in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from cxcore.ports.store import StoreError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SCORES_BACKFILLED_AT",
    "Dialect",
    "migrations",
    "schema_too_new",
]

Dialect = Literal["sqlite", "postgres"]
"""The SQL dialects the store schema is written for."""

_WORDS: Mapping[Dialect, Mapping[str, str]] = {
    "sqlite": {
        "{serial_key}": "INTEGER PRIMARY KEY",
        "{growing_key}": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "{insertion_order}": "",
        "{scalar}": "",
        "{clustered}": " WITHOUT ROWID",
        "{byte_order}": "",
        "{json_text_dimensions}": "",
    },
    "postgres": {
        "{serial_key}": "BIGSERIAL PRIMARY KEY",
        "{growing_key}": "BIGSERIAL PRIMARY KEY",
        "{insertion_order}": ",\n        rowid BIGSERIAL NOT NULL",
        "{scalar}": " JSONB",
        "{clustered}": "",
        "{byte_order}": ' COLLATE "C"',
        "{json_text_dimensions}": "ALTER TABLE answer_scores "
        + ", ".join(
            f"ADD COLUMN t_{name} TEXT GENERATED ALWAYS AS (d_{name}::text) STORED"
            for name in ("touchpoint", "journey", "store", "agent", "product", "channel")
        ),
    },
}

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
        anonymised_at BIGINT{insertion_order}
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
        recorded_at BIGINT NOT NULL{insertion_order}
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
        seq {serial_key},
        at BIGINT NOT NULL,
        entity TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
)

_V2 = (
    """CREATE TABLE answer_scores (
        response_id TEXT NOT NULL,
        question TEXT NOT NULL,
        survey_id TEXT NOT NULL,
        survey_version INTEGER NOT NULL,
        value BIGINT NOT NULL,
        answered_at BIGINT NOT NULL,
        status TEXT NOT NULL,
        respondent TEXT NOT NULL,
        channel TEXT NOT NULL,
        d_touchpoint{scalar},
        d_journey{scalar},
        d_store{scalar},
        d_agent{scalar},
        d_product{scalar},
        d_channel{scalar},
        PRIMARY KEY (survey_id, survey_version, question, answered_at, response_id)
    ){clustered}""",
)

_V3 = (
    "CREATE INDEX outbox_by_state_due ON outbox (state, due_at, id{byte_order})",
    "DROP INDEX outbox_by_state",
)

_V4 = ("{json_text_dimensions}",)

_V5 = (
    """CREATE TABLE feed (
        seq {growing_key},
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        survey_id TEXT,
        detail TEXT NOT NULL
    )""",
    """CREATE TABLE feed_positions (
        consumer TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        saved_at BIGINT NOT NULL
    )""",
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    )""",
    "CREATE INDEX invitations_by_address_channel ON invitations (address, channel, created_at)",
    "DROP INDEX invitations_by_address",
    "CREATE INDEX invitations_by_created ON invitations (created_at)",
    "CREATE INDEX outbox_by_provider ON outbox (provider_id)",
)

_V6 = (
    """CREATE TABLE kiosks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        store TEXT NOT NULL,
        touchpoint TEXT NOT NULL,
        survey_id TEXT NOT NULL,
        key_id TEXT NOT NULL REFERENCES api_keys (id),
        locales TEXT NOT NULL,
        agent_mode BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT,
        seen_at BIGINT,
        queue_length INTEGER,
        dropped BIGINT NOT NULL DEFAULT 0,
        last_answer_at BIGINT
    )""",
    "CREATE UNIQUE INDEX kiosks_by_key ON kiosks (key_id)",
)

_V7 = (
    """CREATE TABLE store_day_counts (
        store TEXT NOT NULL,
        day INTEGER NOT NULL,
        invited INTEGER NOT NULL,
        PRIMARY KEY (store, day)
    )""",
    "ALTER TABLE invitations ADD COLUMN account_id TEXT",
    "ALTER TABLE invitations ADD COLUMN short_code TEXT",
    (
        "CREATE UNIQUE INDEX invitations_by_short_code ON invitations (short_code) "
        "WHERE short_code IS NOT NULL"
    ),
    (
        "CREATE INDEX invitations_by_account ON invitations (account_id, created_at) "
        "WHERE account_id IS NOT NULL"
    ),
)

_V8 = (
    """CREATE TABLE stratum_day_counts (
        rule TEXT NOT NULL,
        stratum TEXT NOT NULL,
        day INTEGER NOT NULL,
        invited INTEGER NOT NULL,
        PRIMARY KEY (rule, stratum, day)
    )""",
)

_MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8)

SCORES_BACKFILLED_AT = 2
"""The migration after which a store fills ``answer_scores`` from its stored responses."""


def migrations(dialect: Dialect) -> tuple[tuple[str, ...], ...]:
    """The migrations, written for *dialect*: migration *n* (from 1) brings a store from version n-1 to n.

    >>> audit = migrations("postgres")[0][-1]
    >>> "seq BIGSERIAL PRIMARY KEY" in audit, "seq INTEGER PRIMARY KEY" in MIGRATIONS[0][-1]
    (True, True)

    Raises:
        ValueError: If *dialect* is not one the schema is written for.

    .. versionadded:: 0.1.0
    """
    try:
        words = _WORDS[dialect]
    except KeyError:
        msg = f"dialect: {dialect!r} is not one of {', '.join(map(repr, _WORDS))}"
        raise ValueError(msg) from None

    def fill(statement: str) -> str:
        for placeholder, word in words.items():
            statement = statement.replace(placeholder, word)
        return statement

    return tuple(
        tuple(filled for s in migration if (filled := fill(s))) for migration in _MIGRATIONS
    )


MIGRATIONS: Sequence[Sequence[str]] = migrations("sqlite")
"""The SQLite migrations: migration *n* (counting from 1) brings a store from schema version n-1 to n."""

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this cxcore writes."""


def schema_too_new(version: int) -> StoreError:
    """The error for a store at schema *version*, newer than this cxcore knows."""
    return StoreError(
        f"the store has schema version {version}, newer than this cxcore knows "
        f"({SCHEMA_VERSION}); upgrade cxcore"
    )
