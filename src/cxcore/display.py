"""Results that show themselves: one compact table, as plain text and as escaped HTML.

Every result type of cxcore (score tables, cells, comparisons, driver
analyses, and the analyst's layer built on them) describes itself as one
:class:`Table` and lets this module render it: :meth:`Table.to_text` for a
terminal, :meth:`Table.to_html` for Jupyter. A table has a title, columns
with their own formatting, rows (any :class:`~collections.abc.Sequence`: only
the rows shown are read, so a lazy sequence over a million cells costs
nothing), an optional low-n mark per row, notes (the metric's definition), and
is cut to ``max_rows`` rows with a note of how many are hidden.

Giving a result type the display takes three methods; :class:`TableDisplay`
supplies two of them:

>>> import attrs
>>> @attrs.frozen
... class StoreScores(TableDisplay):
...     rows: tuple[tuple[str, int, float, float, float], ...]
...
...     def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
...         return Table(
...             title="NPS by store",
...             columns=(
...                 Column("store"),
...                 Column("n", format=fmt_count, align="right"),
...                 Column("NPS", format=fmt_number, align="right"),
...                 Column("95% interval", format=fmt_interval, align="right"),
...             ),
...             rows=[(s, n, score, (low, high)) for s, n, score, low, high in self.rows],
...             marks=[n < 30 for _, n, *_ in self.rows],
...             mark_note="fewer than 30 answers: read with care",
...             notes=("NPS: % promoters (9-10) minus % detractors (0-6).",),
...             max_rows=max_rows,
...         )
>>> result = StoreScores((("A", 120, 31.7, 20.4, 42.0), ("<b>", 9, -11.1, -50.2, 32.5)))
>>> print(result)
NPS by store
store    n    NPS   95% interval
-----  ---  -----  -------------
A      120   31.7   [20.4, 42.0]
<b>      9  -11.1  [-50.2, 32.5] †
† fewer than 30 answers: read with care
NPS: % promoters (9-10) minus % detractors (0-6).
>>> "&lt;b&gt;</td>" in result._repr_html_()
True

Everything in the HTML is escaped, values and titles alike, and the markup is
well-formed XML (one ``<div>`` root), so a store named ``<script>`` stays text.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

import attrs

from cxcore.errors import CxError
from cxcore.metrics import Headline, Metric
from cxcore.model.survey import Direction

if TYPE_CHECKING:
    from cxcore.scoring.stats import IntervalMethod

__all__ = [
    "DEFAULT_MAX_ROWS",
    "MISSING",
    "Column",
    "Displayable",
    "Table",
    "TableDisplay",
    "fmt_count",
    "fmt_interval",
    "fmt_number",
    "fmt_p_value",
    "fmt_percent",
    "fmt_text",
    "metric_definition",
    "number_format",
    "score_columns",
    "score_digits",
]

DEFAULT_MAX_ROWS = 20
"""Rows shown before a table is cut (the first and last halves are kept)."""

MISSING = "—"
"""What a number that does not exist (an empty cell's score) shows as."""


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_text(value: object) -> str:
    """Any value as text: ``None`` (or NaN) as :data:`MISSING`, anything else with ``str``."""
    if _is_missing(value):
        return MISSING
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def fmt_count(value: object) -> str:
    """A count with thousands separators (``1,234``); a fractional (weighted) count to 1 decimal."""
    if _is_missing(value):
        return MISSING
    number = float(value)  # type: ignore[arg-type]
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.1f}"


def number_format(digits: int = 1, *, signed: bool = False) -> Callable[[object], str]:
    """A formatter of numbers to *digits* decimals (with a ``+`` on positives if *signed*)."""
    spec = f"{'+' if signed else ''},.{digits}f"

    def fmt(value: object) -> str:
        if _is_missing(value):
            return MISSING
        return format(float(value), spec)  # type: ignore[arg-type]

    return fmt


fmt_number = number_format(1)
"""A number to 1 decimal (``31.7``), :data:`MISSING` for ``None`` or NaN."""


def fmt_percent(value: object, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.317`` shows as ``31.7%``."""
    if _is_missing(value):
        return MISSING
    return f"{100.0 * float(value):.{digits}f}%"  # type: ignore[arg-type]


def fmt_interval(value: object, digits: int = 1) -> str:
    """A ``(low, high)`` pair as ``[low, high]``; :data:`MISSING` if either end is missing."""
    if value is None:
        return MISSING
    low, high = cast("tuple[object, object]", value)
    if _is_missing(low) or _is_missing(high):
        return MISSING
    return f"[{float(low):.{digits}f}, {float(high):.{digits}f}]"  # type: ignore[arg-type]


def fmt_p_value(value: object) -> str:
    """A p-value to 3 decimals, ``<0.001`` below that."""
    if _is_missing(value):
        return MISSING
    p = float(value)  # type: ignore[arg-type]
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _align(value: str) -> Literal["left", "right"]:
    if value not in ("left", "right"):
        msg = f"column align {value!r} is not 'left' or 'right'"
        raise CxError(msg)
    return value  # type: ignore[return-value]


@attrs.frozen
class Column:
    """One column of a :class:`Table`.

    Args:
        title: The header.
        format: Turns a value of the column into text (:func:`fmt_text` by default).
        align: ``"left"`` (text) or ``"right"`` (numbers).

    .. versionadded:: 0.1.0
    """

    title: str
    format: Callable[[Any], str] = fmt_text
    align: Literal["left", "right"] = attrs.field(default="left", converter=_align)


def _tuple_of_columns(value: Iterable[Column]) -> tuple[Column, ...]:
    return tuple(value)


def _tuple_of_text(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _bounds(total: int, max_rows: int | None) -> tuple[range, range]:
    """The rows shown: all of them, or the first and last halves of *max_rows*."""
    if max_rows is None or total <= max_rows:
        return range(total), range(0)
    tail = max_rows // 2
    head = max_rows - tail
    return range(head), range(total - tail, total)


_HTML_STYLE = {
    "table": "border-collapse:collapse;width:auto;font-variant-numeric:tabular-nums",
    "caption": "text-align:left;font-weight:bold;padding-bottom:0.3em",
    "note": "text-align:left;font-size:smaller;color:#555",
    "hidden": "text-align:center;font-style:italic;color:#555",
    "marked": "color:#777",
}


@attrs.frozen(kw_only=True)
class Table:
    """A table to show: title, columns, rows, low-n marks, notes; cut to *max_rows*.

    Args:
        columns: The columns, in order.
        rows: One sequence of values per row, in column order. Only the rows
            shown are read (by index), so a lazy sequence is fine.
        title: A line above the table (the HTML ``<caption>``).
        marks: Per row, whether it gets the low-n *mark*.
        mark: The mark's symbol.
        mark_note: What the mark means, shown under the table when a shown row has it.
        notes: Lines under the table: the metric's definition, the intervals' method.
        max_rows: Rows shown at most (the first and last halves), ``None`` for all.

    Raises:
        CxError: If *max_rows* is not positive.

    .. versionadded:: 0.1.0
    """

    columns: tuple[Column, ...] = attrs.field(converter=_tuple_of_columns)
    rows: Sequence[Sequence[Any]]
    title: str | None = None
    marks: Sequence[bool] | None = None
    mark: str = "†"
    mark_note: str | None = None
    notes: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_text)
    max_rows: int | None = DEFAULT_MAX_ROWS

    def __attrs_post_init__(self) -> None:
        if self.max_rows is not None and self.max_rows < 1:
            msg = f"max_rows {self.max_rows!r} is not a positive number of rows (or None for all)"
            raise CxError(msg)

    @property
    def hidden(self) -> int:
        """How many rows are not shown."""
        head, tail = _bounds(len(self.rows), self.max_rows)
        return len(self.rows) - len(head) - len(tail)

    def _cells(self, indices: range) -> list[tuple[list[str], bool]]:
        formats = [c.format for c in self.columns]
        width = len(formats)
        out = []
        for i in indices:
            row = self.rows[i]
            if len(row) != width:
                msg = f"row {i} has {len(row)} values for {width} columns"
                raise CxError(msg)
            marked = bool(self.marks[i]) if self.marks is not None else False
            out.append(([f(v) for f, v in zip(formats, row, strict=True)], marked))
        return out

    def _footer(self, shown: Sequence[tuple[list[str], bool]]) -> list[str]:
        lines = []
        total = len(self.rows)
        hidden = self.hidden
        if hidden:
            lines.append(f"{hidden:,} of {total:,} rows hidden (showing the first and last)")
        if self.mark_note and any(marked for _, marked in shown):
            lines.append(f"{self.mark} {self.mark_note}")
        lines.extend(self.notes)
        return lines

    def to_text(self) -> str:
        """The table as plain text: a title, aligned columns, the notes under them."""
        head, tail = _bounds(len(self.rows), self.max_rows)
        top, bottom = self._cells(head), self._cells(tail)
        titles = [c.title for c in self.columns]
        widths = [len(t) for t in titles]
        for cells, _ in (*top, *bottom):
            widths = [max(w, len(s)) for w, s in zip(widths, cells, strict=True)]
        any_mark = any(marked for _, marked in (*top, *bottom))

        def line(cells: Sequence[str], marked: bool = False) -> str:  # noqa: FBT001, FBT002
            parts = [
                s.rjust(w) if c.align == "right" else s.ljust(w)
                for s, w, c in zip(cells, widths, self.columns, strict=True)
            ]
            text = "  ".join(parts)
            if any_mark:
                text += f" {self.mark}" if marked else ""
            return text.rstrip()

        lines = [self.title] if self.title else []
        lines.append(line(titles))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(line(cells, marked) for cells, marked in top)
        if bottom:
            lines.append(f"... {self.hidden:,} rows hidden ...")
            lines.extend(line(cells, marked) for cells, marked in bottom)
        if not self.rows:
            lines.append("(no rows)")
        lines.extend(self._footer((*top, *bottom)))
        return "\n".join(lines)

    def to_html(self) -> str:
        """The table as HTML: one ``<div>`` holding a ``<table>``, every value escaped."""
        esc = html.escape
        head, tail = _bounds(len(self.rows), self.max_rows)
        top, bottom = self._cells(head), self._cells(tail)
        any_mark = any(marked for _, marked in (*top, *bottom))
        n_cols = len(self.columns) + any_mark
        style = _HTML_STYLE
        aligns = [f' style="text-align:{c.align};padding:0.15em 0.6em"' for c in self.columns]

        def row(cells: Sequence[str], marked: bool) -> str:  # noqa: FBT001
            tds = "".join(f"<td{a}>{esc(s)}</td>" for a, s in zip(aligns, cells, strict=True))
            if any_mark:
                tds += f"<td>{esc(self.mark) if marked else ''}</td>"
            attr = f' class="cx-low-n" style="{style["marked"]}"' if marked else ""
            return f"<tr{attr}>{tds}</tr>"

        parts = [f'<div class="cxcore-table"><table style="{style["table"]}">']
        if self.title:
            parts.append(f'<caption style="{style["caption"]}">{esc(self.title)}</caption>')
        ths = "".join(
            f"<th{a}>{esc(c.title)}</th>" for a, c in zip(aligns, self.columns, strict=True)
        )
        if any_mark:
            ths += "<th></th>"
        parts.append(f"<thead><tr>{ths}</tr></thead><tbody>")
        parts.extend(row(cells, marked) for cells, marked in top)
        if bottom:
            parts.append(
                f'<tr class="cx-hidden"><td colspan="{n_cols}" style="{style["hidden"]}">'
                f"&#8942; {self.hidden:,} rows hidden &#8942;</td></tr>"
            )
            parts.extend(row(cells, marked) for cells, marked in bottom)
        if not self.rows:
            parts.append(f'<tr><td colspan="{n_cols}">(no rows)</td></tr>')
        parts.append("</tbody>")
        footer = self._footer((*top, *bottom))
        if footer:
            parts.append("<tfoot>")
            parts.extend(
                f'<tr><td colspan="{n_cols}" style="{style["note"]}">{esc(text)}</td></tr>'
                for text in footer
            )
            parts.append("</tfoot>")
        parts.append("</table></div>")
        return "".join(parts)


@runtime_checkable
class Displayable(Protocol):
    """What a result type implements to be shown: its table, cut to *max_rows*.

    .. versionadded:: 0.1.0
    """

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The result as one :class:`Table`."""
        ...


class TableDisplay:
    """Mix-in giving a :class:`Displayable` its ``__str__`` (plain text) and ``_repr_html_``.

    ``__repr__`` is left to the class: a container (a score table) can use
    :meth:`display_text` for it; a single value (a cell) keeps a one-line
    repr, so that a list of them still reads.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()

    def display_text(self: Displayable, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> str:
        """The result as plain text, with every row if *max_rows* is ``None``."""
        return self.display_table(max_rows=max_rows).to_text()

    def display_html(self: Displayable, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> str:
        """The result as HTML, with every row if *max_rows* is ``None``."""
        return self.display_table(max_rows=max_rows).to_html()

    def __str__(self: Displayable) -> str:
        return self.display_table().to_text()

    def _repr_html_(self: Displayable) -> str:
        return self.display_table().to_html()


def _scale_text(metric: Metric) -> str:
    return f"answers {metric.low}-{metric.high}"


def _bucket_text(metric: Metric, name: str | None) -> str:
    for b in metric.buckets:
        if b.name == name:
            span = f"{b.low}" if b.low == b.high else f"{b.low}-{b.high}"
            return f"{b.name} ({span})"
    return str(name)


def metric_definition(
    metric: Metric,
    *,
    method: IntervalMethod | str | None = None,
    confidence: float | None = None,
    min_n: int | None = None,
) -> str:
    """What a metric's score means, in one line for a table's notes or a plot's caption.

    >>> from cxcore.metrics import get_metric
    >>> nps = get_metric("nps")
    >>> print(metric_definition(nps, method="adjusted-wald", confidence=0.95))
    ... # doctest: +NORMALIZE_WHITESPACE
    Net Promoter Score: % promoter (9-10) minus % detractor (0-6), from -100 to 100;
    higher is better. 95% adjusted-wald intervals.

    Args:
        metric: The metric (from the registry).
        method: The intervals' method, if the table has intervals.
        confidence: Their confidence level.
        min_n: The low-n threshold, if it should be stated.

    .. versionadded:: 0.1.0
    """
    low, high = metric.score_range
    if metric.headline is Headline.NET:
        how = (
            f"% {_bucket_text(metric, metric.positive)} minus "
            f"% {_bucket_text(metric, metric.negative)}, from {low:g} to {high:g}"
        )
    elif metric.headline is Headline.TOP_BOX:
        how = f"% {_bucket_text(metric, metric.positive)} of {_scale_text(metric)}"
    else:
        how = f"mean answer, {_scale_text(metric)}"
    better = "higher" if metric.direction is Direction.HIGHER_IS_BETTER else "lower"
    text = f"{metric.title}: {how}; {better} is better."
    if method is not None:
        level = "" if confidence is None else f"{100 * confidence:g}% "
        text += f" {level}{getattr(method, 'value', method)} intervals."
    if min_n is not None:
        text += f" Fewer than {min_n} answers is low n."
    return text


def score_digits(metric: Metric) -> int:
    """Decimals a score of *metric* is shown with: 2 for a mean (4.27), 1 for a percentage."""
    return 2 if metric.headline is Headline.MEAN else 1


def score_columns(
    metric: Metric, confidence: float, *, title: str | None = None
) -> tuple[Column, Column, Column]:
    """The three columns every score shows: n, the score, and its interval.

    Rows give them ``n``, ``score`` and a ``(low, high)`` pair; missing numbers
    (``None`` or NaN) show as :data:`MISSING`.

    >>> from cxcore.metrics import get_metric
    >>> [c.title for c in score_columns(get_metric("nps"), 0.95)]
    ['n', 'NPS', '95% interval']

    Args:
        metric: The metric scored.
        confidence: The intervals' confidence level.
        title: The score column's header (the metric's name in capitals by default).

    .. versionadded:: 0.1.0
    """
    digits = score_digits(metric)
    number = number_format(digits)

    def interval(value: object) -> str:
        return fmt_interval(value, digits)

    return (
        Column("n", format=fmt_count, align="right"),
        Column(metric.name.upper() if title is None else title, format=number, align="right"),
        Column(f"{100 * confidence:g}% interval", format=interval, align="right"),
    )
