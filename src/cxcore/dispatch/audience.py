"""Audiences: a CSV of customers for a bulk send, checked row by row."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator

import attrs

from cxcore.errors import CxError, ValidationError
from cxcore.model.customer import Customer

__all__ = ["AudienceError", "AudienceRow", "RowError", "read_audience"]

_FIELDS = ("email", "phone", "app_user_id", "locale", "timezone", "country", "account_id")
_OTHER = ("id", "name", "survey")
_REQUIRED = ("id", "timezone")


class AudienceError(CxError, ValueError):
    """The audience file as a whole cannot be used (no header, a required column missing).

    .. versionadded:: 0.1.0
    """


@attrs.frozen
class RowError:
    """One problem of one row: the row (numbered as in a spreadsheet), the column, what is wrong.

    >>> str(RowError(3, "phone", "'12345' is not an E.164 phone number"))
    "row 3, column 'phone': '12345' is not an E.164 phone number"

    .. versionadded:: 0.1.0
    """

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


@attrs.frozen
class AudienceRow:
    """One customer to send to, or the problems that keep the row from being sent.

    Attributes:
        row: The row number, the header being row 1.
        customer: The customer, when the row is valid.
        survey: The row's own survey (its ``survey`` column), if any.
        name: How to greet the person (its ``name`` column), if any.
        errors: Every problem of the row; empty when valid.

    .. versionadded:: 0.1.0
    """

    row: int
    customer: Customer | None
    survey: str | None = None
    name: str | None = None
    errors: tuple[RowError, ...] = ()


def _column(path: str) -> str:
    """The CSV column of a Customer field path (``attributes.tier`` is column ``tier``)."""
    return path.removeprefix("attributes.").split("[", 1)[0].split(".", 1)[0]


def read_audience(  # noqa: PLR0912 - one check per column, in order
    file: Iterable[str], *, surveys: Collection[str]
) -> Iterator[AudienceRow]:
    """Read customers from a CSV with a header row, checking each row on its own.

    Columns: ``id`` and ``timezone`` (required), ``email``, ``phone``,
    ``app_user_id``, ``locale``, ``country``, ``account_id``, ``name``, and
    ``survey`` (a row's own survey, instead of the command's); any other
    column becomes a customer attribute. Empty cells are missing values.

    Args:
        file: The open CSV file (or any iterable of its lines).
        surveys: The surveys a ``survey`` cell may name.

    Yields:
        One row at a time; a bad row carries every problem found in it, and
        the rows after it are read as usual.

    Raises:
        AudienceError: If there is no header, or it lacks a required column.

    .. versionadded:: 0.1.0
    """
    reader = csv.DictReader(file)
    header = reader.fieldnames
    if not header:
        msg = "the file is empty (expected a header row: id, email, phone, timezone, ...)"
        raise AudienceError(msg)
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        msg = (
            f"the header has no {', '.join(repr(c) for c in missing)} column "
            f"(it has {', '.join(repr(c) for c in header)})"
        )
        raise AudienceError(msg)
    known = sorted(surveys)
    for cells in reader:
        row = reader.line_num  # the header is line 1, as in a spreadsheet
        values = {k: (v or "").strip() for k, v in cells.items() if k is not None}
        errors: list[RowError] = []
        if None in cells:
            extra = [v for v in cells[None] if v]  # csv puts extra cells here
            if extra:
                errors.append(RowError(row, None, f"has {len(extra)} more cells than the header"))
        if not values.get("id"):
            errors.append(RowError(row, "id", "is empty (expected the customer's id)"))
        if not values.get("timezone"):
            errors.append(
                RowError(row, "timezone", "is empty (expected an IANA time zone: 'Asia/Kolkata')")
            )
        survey = values.get("survey") or None
        if survey is not None and survey not in surveys:
            errors.append(
                RowError(
                    row,
                    "survey",
                    f"{survey!r} is not a known survey (known: {', '.join(known) or 'none'})",
                )
            )
        fields = {k: values[k] for k in _FIELDS if values.get(k)}
        attributes = {k: v for k, v in values.items() if k not in _FIELDS and k not in _OTHER and v}
        customer: Customer | None = None
        try:
            customer = Customer(id=values.get("id", ""), attributes=attributes, **fields)
        except ValidationError as exc:
            reported = {(e.column, e.message) for e in errors}
            for problem in exc.problems:
                column = _column(problem.path)
                if column == "id" and not values.get("id"):
                    continue  # already said: empty
                if (column, problem.message) not in reported:
                    errors.append(RowError(row, column, problem.message))
        name = values.get("name") or None
        if errors:
            yield AudienceRow(row, None, survey, name, tuple(errors))
        else:
            yield AudienceRow(row, customer, survey, name)
