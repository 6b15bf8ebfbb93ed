"""How the PostgreSQL store reads and matches JSON values as SQLite does, and spells the score queries."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from psycopg.adapt import Loader

from cxcore.model.interaction import Scalar
from cxcore.stores._analytics import Dialect
from cxcore.stores._rows import to_json

if TYPE_CHECKING:
    from psycopg.abc import Buffer


class _JsonScalarLoader(Loader):
    """Loads a ``jsonb`` scalar as ``json_extract`` returns it in SQLite: true and false as 1 and 0."""

    def load(self, data: Buffer) -> Any:  # noqa: ANN401 - any JSON scalar
        text = bytes(data)
        if text[:1] == b'"' and b"\\" not in text:
            return text[1:-1].decode()  # the common case, without the JSON parser
        value = json.loads(text)
        return int(value) if isinstance(value, bool) else value


def _jsonb_scalar(expr: str) -> str:
    """SQL reading a JSON value as SQLite's ``json_extract`` sees it: JSON null is NULL, booleans are 1 and 0."""
    return (
        f"(CASE jsonb_typeof({expr}) WHEN 'null' THEN NULL "
        f"WHEN 'boolean' THEN to_jsonb(({expr})::boolean::int) ELSE {expr} END)"
    )


def _json_matches(value: Scalar) -> list[str]:
    """The JSON values that SQLite's ``json_extract(...) = value`` accepts, for ``= ANY(...::jsonb[])``.

    SQLite compares a JSON number with a number, a JSON string with a string,
    and reads JSON true and false as the integers 1 and 0.
    """
    if isinstance(value, str):
        return [to_json(value)]
    if isinstance(value, float) and not math.isfinite(value):
        return []
    number = int(value) if isinstance(value, bool) else value
    matches = [to_json(number)]
    if number == 1:
        matches.append("true")
    elif number == 0:
        matches.append("false")
    return matches


POSTGRES = Dialect(
    mark="%s",
    json=lambda column, key: f"({column}::jsonb -> '{key}')",
    # Context values read and match as json_extract reads them in SQLite.
    read=_jsonb_scalar,
    match=lambda stored, value: (f"{stored} = ANY(%s::jsonb[])", _json_matches(value)),
    # The t_ columns hold the d_ columns' JSON texts: joined as they are, not
    # converted row by row as json_agg(d_...) would.
    join_json=lambda expr: f"'[' || string_agg(coalesce({expr}, 'null'), ',') || ']'",
    one_of=lambda column, values: (f"{column} = ANY(%s::text[])", list(values)),
    text=lambda value: f"'{value}'::text",
    nothing="SELECT 0 WHERE false",
    numbers=lambda expr: f"string_agg(({expr})::text, ',')",
    values=lambda expr: f"json_agg({expr})::text",
    # psycopg would parse every JSONB value by itself.
    transfer=lambda value: f"({value})::text",
)
"""How PostgreSQL spells the score queries."""
