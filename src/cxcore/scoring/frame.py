"""The columnar :class:`ResponseFrame`: answers as numpy columns, ready for vectorised scoring.

One row is one answer to one scored question. The columns are the metric
(dictionary-encoded), the answer on the metric's scale, every dimension
(dictionary-encoded, values sorted), the time the answer was given, and an
optional weight. numpy is imported when this module is, which happens only
when a frame is first built.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs
import numpy as np

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Table,
    TableDisplay,
    fmt_count,
    fmt_percent,
)
from cxcore.display import Column as ShownColumn
from cxcore.errors import CxError, Problem, UnknownMetricError
from cxcore.metrics import Metric, MetricRegistry, metric_registry
from cxcore.model.response import RespondentKind, Response, ResponseStatus
from cxcore.model.survey import Survey
from cxcore.scoring._optional import optional_module
from cxcore.scoring.cells import GroupValue, Period
from cxcore.scoring.inputs import ScoreInputError, response_dimensions

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from cxcore.scoring.batch import ScoreTable
    from cxcore.scoring.stats import IntervalMethod

__all__ = ["Dimension", "GroupIndex", "InvalidPolicy", "ResponseFrame"]

InvalidPolicy: TypeAlias = Literal["raise", "drop"]
"""What to do with a row whose metric or score is invalid: raise, or drop and count it."""

_MAX_LISTED = 20
_MISSING_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none"})
_US_PER_DAY = 86_400_000_000


@attrs.frozen(eq=False)
class Dimension:
    """One dictionary-encoded dimension: a code per row, and the value of each code.

    Values are sorted (``None``, for a missing value, comes last), so group
    order is stable whatever the row order.

    Attributes:
        name: The dimension's name (``"store"``).
        codes: The code of each row, an index into ``values``.
        values: The distinct values.

    .. versionadded:: 0.1.0
    """

    name: str
    codes: NDArray[np.int32]
    values: tuple[GroupValue, ...]

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def encode(cls, name: str, values: Sequence[GroupValue]) -> Dimension:
        """Dictionary-encode plain values (``None`` for missing) in one pass.

        >>> Dimension.encode("store", ["B", None, "A", "B"]).values
        ('A', 'B', None)

        .. versionadded:: 0.1.0
        """
        # dict.fromkeys and map run in C: about 3x faster than a setdefault per value.
        index = {v: i for i, v in enumerate(dict.fromkeys(values))}
        codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
        seen = list(index)
        if None in index:  # _sorted_encoding wants missing as -1
            gap = index[None]
            codes = np.where(codes == gap, -1, codes - (codes > gap))
            seen.remove(None)
        ordered, sorted_values = _sorted_encoding(codes, seen)
        return cls(name, ordered, sorted_values)

    @classmethod
    def concat(cls, name: str, parts: Sequence[Dimension]) -> Dimension:
        """One dimension of the rows of *parts*, in order: their values merged and sorted.

        >>> a = Dimension.encode("store", ["B", "A"])
        >>> b = Dimension.encode("store", [None, "C", "A"])
        >>> both = Dimension.concat("store", [a, b])
        >>> both.values, both.codes.tolist()
        (('A', 'B', 'C', None), [1, 0, 3, 2, 0])

        .. versionadded:: 0.1.0
        """
        if len(parts) == 1:
            return parts[0] if parts[0].name == name else attrs.evolve(parts[0], name=name)
        values = sorted(dict.fromkeys(v for part in parts for v in part.values), key=_sort_key)
        position = {v: i for i, v in enumerate(values)}
        codes = [
            np.array([position[v] for v in part.values], dtype=np.int32)[part.codes]
            if part.values
            else part.codes
            for part in parts
        ]
        return cls(
            name,
            np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32),
            tuple(values),
        )

    def decoded(self) -> NDArray[np.object_]:
        """The value of every row, as an object array."""
        table = np.empty(len(self.values), dtype=object)
        table[:] = list(self.values)
        return table[self.codes]


def _sort_key(value: GroupValue) -> tuple[int, str, Any]:
    if value is None:
        return (2, "", 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, "", value)
    return (1, type(value).__name__, value)


def _is_missing(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and value.strip().lower() in _MISSING_TEXT)
    )


def _python_scalar(value: Any) -> GroupValue:  # noqa: ANN401 - numpy scalars of any kind
    return value.item() if isinstance(value, np.generic) else value  # type: ignore[no-any-return]


def _sorted_encoding(
    codes: NDArray[np.int64], values: Sequence[GroupValue]
) -> tuple[NDArray[np.int32], tuple[GroupValue, ...]]:
    """Re-number *codes* so that the values are sorted; code -1 means missing (``None``)."""
    values = [_python_scalar(v) for v in values]
    missing = bool((codes < 0).any())
    if missing:
        values = [*values, None]
        codes = np.where(codes < 0, len(values) - 1, codes)
    order = sorted(range(len(values)), key=lambda i: _sort_key(values[i]))
    rank = np.empty(len(values), dtype=np.int32)
    rank[order] = np.arange(len(values), dtype=np.int32)
    return rank[codes] if values else codes.astype(np.int32), tuple(values[i] for i in order)


def _factorize(column: Any) -> tuple[NDArray[np.int32], tuple[GroupValue, ...]]:  # noqa: ANN401
    """Dictionary-encode a column (numpy array or sequence); missing values become ``None``."""
    array = np.asarray(column) if not isinstance(column, np.ndarray) else column
    if array.dtype.kind in "iu" and array.size:
        low, high = int(array.min()), int(array.max())
        if high - low <= max(4 * array.size, 1 << 16):
            shifted = (array - low).astype(np.int64)
            present = np.bincount(shifted, minlength=high - low + 1) > 0
            mapping = np.cumsum(present) - 1
            values = (np.flatnonzero(present) + low).tolist()
            return mapping[shifted].astype(np.int32), tuple(values)
        uniques, inverse = np.unique(array, return_inverse=True)
        return inverse.astype(np.int32), tuple(uniques.tolist())
    if array.dtype.kind == "f":
        nan = np.isnan(array)
        uniques, inverse = np.unique(np.where(nan, 0.0, array), return_inverse=True)
        codes = np.where(nan, -1, inverse.astype(np.int64))
        used = np.unique(codes[codes >= 0])
        remap = np.full(len(uniques), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        return _sorted_encoding(codes, [float(u) for u in uniques[used]])
    if array.dtype.kind == "b":
        return _sorted_encoding(array.astype(np.int64), [False, True])
    seen: dict[Any, int] = {}
    out = np.empty(array.size, dtype=np.int64)
    for i, value in enumerate(array.tolist()):
        if _is_missing(value):
            out[i] = -1
            continue
        code = seen.get(value)
        if code is None:
            code = seen[value] = len(seen)
        out[i] = code
    return _sorted_encoding(out, list(seen))


@attrs.frozen
class _Encoded:
    """A column that arrives already dictionary-encoded (from Arrow or pandas); -1 is missing."""

    codes: NDArray[np.int64]
    values: tuple[GroupValue, ...]

    def factorize(self) -> tuple[NDArray[np.int32], tuple[GroupValue, ...]]:
        return _sorted_encoding(self.codes, self.values)


Column: TypeAlias = "NDArray[Any] | Sequence[Any] | _Encoded"


def _encode(column: Column) -> tuple[NDArray[np.int32], tuple[GroupValue, ...]]:
    if isinstance(column, _Encoded):
        return column.factorize()
    return _factorize(column)


class _Problems:
    """Problems with rows, listing the first few and counting all, per reason."""

    def __init__(self, source: str, *, drop: bool, first_row: int = 1) -> None:
        self.source = source
        self.drop = drop
        self.first_row = first_row
        # (row, order found, problem): the first rows of each check, listed in row order.
        self.found: list[tuple[int, int, Problem]] = []
        self.total = 0
        self.reasons: Counter[str] = Counter()

    def rows(
        self, rows: NDArray[np.intp], column: str, describe: Callable[[int], str], reason: str
    ) -> None:
        count = int(rows.size)
        if not count:
            return
        self.total += count
        self.reasons[reason] += count
        # Rows come in ascending order: the first few of each check hold the first overall.
        for row in rows[:_MAX_LISTED].tolist():
            number = row + self.first_row
            problem = Problem(f"row {number}, column {column!r}", describe(row))
            self.found.append((row, len(self.found), problem))

    def raise_if_any(self) -> None:
        if self.total and not self.drop:
            listed = [problem for *_, problem in sorted(self.found)[:_MAX_LISTED]]
            if self.total > len(listed):
                listed.append(Problem("", f"... and {self.total - len(listed)} more"))
            raise ScoreInputError(self.source, listed)


def _scores_from_column(
    column: Column, name: str, problems: _Problems
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse the score column: whole numbers; returns (scores, valid, skipped)."""
    if isinstance(column, _Encoded):
        column = np.asarray((*column.values, None), dtype=object)[column.codes]
    array = np.asarray(column) if not isinstance(column, np.ndarray) else column
    n = array.size
    if array.dtype.kind in "iu":
        return array.astype(np.int64), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    if array.dtype.kind == "f":
        skipped = np.isnan(array)
        whole = np.isfinite(array) & (np.floor(array) == array)
        bad = np.flatnonzero(~skipped & ~whole)
        problems.rows(
            bad,
            name,
            lambda r: f"{array[r]!r} is not a whole number",
            "score is not a whole number",
        )
        scores = np.where(whole, array, 0).astype(np.int64)
        return scores, whole, skipped
    scores = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    skipped = np.zeros(n, dtype=bool)
    values = array.tolist()
    bad_rows: list[int] = []
    for i, value in enumerate(values):
        if _is_missing(value):
            skipped[i] = True
            continue
        parsed = _parse_whole(value)
        if parsed is None:
            bad_rows.append(i)
        else:
            scores[i] = parsed
            valid[i] = True
    problems.rows(
        np.asarray(bad_rows, dtype=np.intp),
        name,
        lambda r: f"{values[r]!r} is not a whole number",
        "score is not a whole number",
    )
    return scores, valid, skipped


def _check_respondent_kinds(values: Sequence[GroupValue], column: str, source: str) -> None:
    """Refuse a respondent column that holds anything but respondent kinds (ids, say)."""
    kinds = [k.value for k in RespondentKind]
    strange = [v for v in values if v is not None and v not in kinds]
    if strange:
        msg = (
            f"{source}: column {column!r} holds {strange[0]!r}, which is not a respondent kind: "
            f"a column of that name says who answered ({', '.join(map(repr, kinds))}), and "
            "agent-reported rows are left out by it. If it holds respondent ids, rename it "
            "(to 'respondent_id', say), or pass respondent=None"
        )
        raise CxError(msg)


def _constant(message: str) -> Callable[[int], str]:
    """A row describer that says the same thing of every row."""

    def describe(_row: int) -> str:
        return message

    return describe


def _parse_whole(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def _times_from_column(
    column: Column, name: str, problems: _Problems
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Parse the time column to microseconds since the epoch (UTC); missing is int64 min.

    Returns the times and which rows held something that is not a time.
    """
    nat = np.iinfo(np.int64).min
    if isinstance(column, _Encoded):
        column = np.asarray((*column.values, None), dtype=object)[column.codes]
    array = np.asarray(column) if not isinstance(column, np.ndarray) else column
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").astype(np.int64), np.zeros(array.size, dtype=bool)
    out = np.full(array.size, nat, dtype=np.int64)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    bad: list[int] = []
    values = array.tolist()
    for i, value in enumerate(values):
        if _is_missing(value):
            continue
        at: datetime | None = None
        if isinstance(value, datetime):
            at = value
        elif isinstance(value, str):
            try:
                at = datetime.fromisoformat(value.strip())
            except ValueError:
                at = None
        if at is None:
            bad.append(i)
            continue
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        out[i] = (at - epoch) // timedelta(microseconds=1)
    bad_rows = np.asarray(bad, dtype=np.intp)
    problems.rows(
        bad_rows,
        name,
        lambda r: f"{values[r]!r} is not an ISO 8601 date-time",
        "time is not a date-time",
    )
    bad_mask = np.zeros(array.size, dtype=bool)
    bad_mask[bad_rows] = True
    return out, bad_mask


def _weights_from_column(
    column: Column, name: str, problems: _Problems
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    if isinstance(column, _Encoded):
        column = np.asarray((*column.values, None), dtype=object)[column.codes]
    try:
        weights = np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        values = list(np.asarray(column, dtype=object).tolist())
        weights = np.array([_float_or_nan(v) for v in values], dtype=np.float64)
    good = np.isfinite(weights) & (weights >= 0)
    problems.rows(
        np.flatnonzero(~good),
        name,
        lambda r: f"{weights[r]!r} is not a finite weight of 0 or more",
        "weight is invalid",
    )
    return np.where(good, weights, 0.0), ~good


def _float_or_nan(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


class ResponseFrame(TableDisplay):
    """Answers to scored questions as numpy columns: the input of every batch score.

    Build one with :meth:`from_responses`, :meth:`from_columns`,
    :meth:`from_csv`, :meth:`from_parquet`, :meth:`from_pandas`,
    :meth:`from_polars` or :meth:`from_arrow`; score it with
    :func:`~cxcore.scoring.score`.

    The policy for what is counted is explicit:

    * a question left unanswered (skipped, or a blank score in a file) is not
      an answer: it is not counted in n, and never as a zero or a detractor.
      ``skipped`` says how many blank scores were left out;
    * agent-reported answers are left out unless ``include_agents=True``;
      ``excluded_agents`` counts them;
    * invalid rows (a score off the scale, not a whole number, an unknown
      metric) raise :class:`ScoreInputError`, or with ``invalid="drop"`` are
      left out and counted per reason in ``dropped``.

    >>> frame = ResponseFrame.from_columns(
    ...     {"metric": ["nps", "nps", "csat"], "score": [10, 3, 5], "store": ["B", "A", "A"]}
    ... )
    >>> len(frame), frame.metrics, frame.dimensions["store"].values
    (3, ('csat', 'nps'), ('A', 'B'))
    >>> print(frame)
    ResponseFrame: 3 answers
    metric  title                  answers  share
    ------  ---------------------  -------  -----
    csat    Customer Satisfaction        1  33.3%
    nps     Net Promoter Score           2  66.7%
    Dimensions: store (2 values).

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_cache",
        "_codes",
        "_metric_codes",
        "_metrics",
        "_scores",
        "_time",
        "_weight",
        "dimensions",
        "dropped",
        "excluded_agents",
        "skipped",
    )

    def __init__(
        self,
        *,
        metrics: Sequence[Metric],
        metric_codes: NDArray[np.integer[Any]],
        scores: NDArray[np.integer[Any]],
        dimensions: Mapping[str, Dimension] | None = None,
        time: NDArray[np.int64] | None = None,
        weight: NDArray[np.float64] | None = None,
        dropped: Mapping[str, int] | None = None,
        skipped: int = 0,
        excluded_agents: int = 0,
    ) -> None:
        """Assemble a frame from columns that are already encoded and checked.

        Prefer the ``from_*`` constructors, which check and encode their input.
        """
        n = len(metric_codes)
        lengths = {"scores": len(scores)}
        lengths.update({f"dimension {k!r}": len(d.codes) for k, d in (dimensions or {}).items()})
        if time is not None:
            lengths["time"] = len(time)
        if weight is not None:
            lengths["weight"] = len(weight)
        wrong = {k: v for k, v in lengths.items() if v != n}
        if wrong:
            msg = f"columns have different lengths: metric codes {n}, " + ", ".join(
                f"{k} {v}" for k, v in wrong.items()
            )
            raise CxError(msg)
        self._metrics = tuple(metrics)
        self._metric_codes = np.ascontiguousarray(metric_codes, dtype=np.int16)
        self._scores = np.ascontiguousarray(scores, dtype=np.int32)
        self.dimensions: Mapping[str, Dimension] = dict(dimensions or {})
        self._time = time
        self._weight = weight
        self.dropped: Mapping[str, int] = dict(dropped or {})
        self.skipped = skipped
        self.excluded_agents = excluded_agents
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._codes: NDArray[np.integer[Any]] | None = None

    # -- reading -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._metric_codes)

    def __repr__(self) -> str:
        dims = ", ".join(self.dimensions)
        extra = ", weighted" if self._weight is not None else ""
        metrics = ", ".join(self.metrics)
        return (
            f"ResponseFrame({len(self)} answers, metrics=[{metrics}], dimensions=[{dims}]{extra})"
        )

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """A summary: answers per metric, then the dimensions, time span and what was left out.

        Args:
            max_rows: Metrics shown at most, ``None`` for all.
        """
        total = len(self)
        per_metric = np.bincount(self._metric_codes, minlength=len(self._metrics))
        rows = [
            (m.name, m.title, int(count), count / total if total else None)
            for m, count in zip(self._metrics, per_metric.tolist(), strict=True)
        ]
        notes = []
        if self.dimensions:
            dims = ", ".join(
                f"{name} ({len(d):,} value{'' if len(d) == 1 else 's'})"
                for name, d in self.dimensions.items()
            )
            notes.append(f"Dimensions: {dims}.")
        if self._time is not None and total:
            known = self._time[self._time != np.iinfo(np.int64).min]
            if len(known):
                first, last = (
                    np.datetime64(int(v), "us").astype(datetime).date().isoformat()
                    for v in (known.min(), known.max())
                )
                notes.append(f"Answered from {first} to {last} (UTC).")
        if self._weight is not None:
            notes.append("Weighted.")
        left_out = []
        if self.skipped:
            left_out.append(f"{self.skipped:,} blank scores")
        if self.excluded_agents:
            left_out.append(f"{self.excluded_agents:,} agent-reported answers")
        left_out += [f"{count:,} {reason}" for reason, count in self.dropped.items()]
        if left_out:
            notes.append(f"Left out: {'; '.join(left_out)}.")
        return Table(
            title=f"ResponseFrame: {total:,} answers",
            columns=(
                ShownColumn("metric"),
                ShownColumn("title"),
                ShownColumn("answers", format=fmt_count, align="right"),
                ShownColumn("share", format=fmt_percent, align="right"),
            ),
            rows=rows,
            notes=notes,
            max_rows=max_rows,
        )

    @property
    def metrics(self) -> tuple[str, ...]:
        """The names of the metrics that the metric codes refer to."""
        return tuple(m.name for m in self._metrics)

    def metric(self, name: str) -> Metric:
        """The definition of metric *name* this frame was built with.

        Raises:
            UnknownMetricError: If the frame has no such metric.
        """
        for m in self._metrics:
            if m.name == name:
                return m
        raise UnknownMetricError(name, self.metrics)

    @property
    def metric_codes(self) -> NDArray[np.int16]:
        """Per row, the index of its metric in :attr:`metrics`."""
        return self._metric_codes

    @property
    def scores(self) -> NDArray[np.int32]:
        """Per row, the answer on its metric's scale (inverted scales already turned)."""
        return self._scores

    @property
    def time(self) -> NDArray[np.datetime64] | None:
        """Per row, when it was answered (UTC, microseconds; NaT where unknown), if known."""
        return None if self._time is None else self._time.view("datetime64[us]")

    @property
    def weight(self) -> NDArray[np.float64] | None:
        """Per row, its weight, if the frame is weighted."""
        return self._weight

    @property
    def level_offsets(self) -> tuple[int, ...]:
        """For each metric, where its levels start in the combined level code."""
        offsets = [0]
        for m in self._metrics:
            offsets.append(offsets[-1] + len(m.levels))
        return tuple(offsets)

    @property
    def level_codes(self) -> NDArray[np.integer[Any]]:
        """Per row, one code for (metric, level), made of its metric's offset plus answer minus low.

        Computed once and kept: scoring counts these codes per group.
        """
        if self._codes is None:
            offsets = self.level_offsets
            shift = np.array(
                [offsets[i] - m.low for i, m in enumerate(self._metrics)] or [0], dtype=np.int64
            )
            dtype = np.uint8 if offsets[-1] <= 256 else np.int32
            self._codes = (shift[self._metric_codes] + self._scores).astype(dtype)
        return self._codes

    def clear_cache(self) -> None:
        """Forget the cached group keys (they are rebuilt on the next score)."""
        self._cache.clear()

    # -- deriving ------------------------------------------------------------------

    def take(self, mask: NDArray[np.bool_]) -> ResponseFrame:
        """A new frame with the rows where *mask* is true (dimension values are kept)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            msg = f"a row mask of shape {mask.shape} does not fit a frame of {len(self)} rows"
            raise CxError(msg)
        return ResponseFrame(
            metrics=self._metrics,
            metric_codes=self._metric_codes[mask],
            scores=self._scores[mask],
            dimensions={
                k: Dimension(k, d.codes[mask], d.values) for k, d in self.dimensions.items()
            },
            time=None if self._time is None else self._time[mask],
            weight=None if self._weight is None else self._weight[mask],
            dropped=self.dropped,
            skipped=self.skipped,
            excluded_agents=self.excluded_agents,
        )

    def select(
        self,
        *,
        metrics: Iterable[str] | None = None,
        where: Mapping[str, GroupValue | Iterable[GroupValue]] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> ResponseFrame:
        """The rows of some metrics, dimension values and time range.

        Args:
            metrics: Keep only these metrics.
            where: Keep rows whose dimension has this value (or one of these values).
            start: Keep rows answered at or after this aware datetime.
            end: Keep rows answered before this aware datetime.

        Raises:
            CxError: For an unknown dimension, or a time filter on a frame without times.
        """
        mask = np.ones(len(self), dtype=bool)
        if metrics is not None:
            wanted = [i for i, name in enumerate(self.metrics) if name in set(metrics)]
            mask &= np.isin(self._metric_codes, wanted)
        for name, wanted_values in (where or {}).items():
            dim = self._dimension(name)
            choices = (
                set(wanted_values)
                if isinstance(wanted_values, Iterable) and not isinstance(wanted_values, str)
                else {wanted_values}
            )
            codes = [i for i, v in enumerate(dim.values) if v in choices]
            mask &= np.isin(dim.codes, codes)
        if start is not None or end is not None:
            if self._time is None:
                msg = "this frame has no answer times; it cannot be filtered by time"
                raise CxError(msg)
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            known = self._time != np.iinfo(np.int64).min
            mask &= known
            if start is not None:
                mask &= self._time >= (start - epoch) // timedelta(microseconds=1)
            if end is not None:
                mask &= self._time < (end - epoch) // timedelta(microseconds=1)
        return self.take(mask)

    def with_weights(self, weights: Sequence[float] | NDArray[np.float64] | None) -> ResponseFrame:
        """A copy of the frame with a weight per row (``None`` removes the weights).

        Raises:
            CxError: If a weight is negative or not finite, or the length is wrong.
        """
        array = None if weights is None else np.asarray(weights, dtype=np.float64)
        if array is not None and not bool(np.all(np.isfinite(array) & (array >= 0))):
            msg = "weights must be finite and not negative"
            raise CxError(msg)
        frame = self.take(np.ones(len(self), dtype=bool))
        if array is not None and array.shape != (len(self),):
            msg = f"{array.size} weights given for a frame of {len(self)} rows"
            raise CxError(msg)
        frame._weight = array  # noqa: SLF001 - a fresh copy of our own class
        return frame

    def poststratify(self, by: str, targets: Mapping[GroupValue, float]) -> ResponseFrame:
        """Weight the rows so that the shares of *by*'s values match *targets*.

        Each row of stratum h gets the weight ``target_h / sample_share_h``, so the
        weighted share of every stratum equals its target share (targets are
        normalised to sum to 1). Compute it on a frame with one answer per
        respondent, such as the rows of one metric.

        Raises:
            CxError: If a stratum present in the frame has no target, or a
                target stratum is absent from the frame.

        .. versionadded:: 0.1.0
        """
        dim = self._dimension(by)
        total = float(sum(targets.values()))
        if not total > 0 or any(t < 0 for t in targets.values()):
            msg = "post-stratification targets must be non-negative and sum to more than 0"
            raise CxError(msg)
        counts = np.bincount(dim.codes, minlength=len(dim.values))
        present = {v for v, c in zip(dim.values, counts.tolist(), strict=True) if c}
        missing_targets = sorted(map(repr, present - set(targets)))
        absent = sorted(map(repr, {k for k, t in targets.items() if t > 0} - present))
        if missing_targets or absent:
            parts = []
            if missing_targets:
                parts.append(f"no target for {by} value(s) {', '.join(missing_targets)}")
            if absent:
                parts.append(f"no answers for target {by} value(s) {', '.join(absent)}")
            raise CxError("cannot post-stratify: " + "; ".join(parts))
        factor = np.zeros(len(dim.values), dtype=np.float64)
        for i, value in enumerate(dim.values):
            if counts[i]:
                factor[i] = (targets[value] / total) / (counts[i] / len(self))
        return self.with_weights(factor[dim.codes])

    def _dimension(self, name: str) -> Dimension:
        try:
            return self.dimensions[name]
        except KeyError:
            known = ", ".join(self.dimensions) or "none"
            msg = f"the frame has no dimension {name!r}; it has: {known}"
            raise CxError(msg) from None

    def score(
        self,
        metric: str,
        *,
        by: Sequence[str] | str = (),
        every: Period | str | None = None,
        interval: IntervalMethod | str = "auto",
        confidence: float = 0.95,
        weighted: bool = False,
        min_n: int = 30,
        utc_offset: timedelta = timedelta(0),
    ) -> ScoreTable:
        """Score *metric*; a shortcut for :func:`cxcore.scoring.score`."""
        from cxcore.scoring.batch import score  # noqa: PLC0415 - batch imports this module

        return score(
            self,
            metric,
            by=by,
            every=every,
            interval=interval,
            confidence=confidence,
            weighted=weighted,
            min_n=min_n,
            utc_offset=utc_offset,
        )

    # -- grouping (used by the batch scorer) -----------------------------------------

    def group_index(
        self, by: tuple[str, ...], every: Period | None, utc_offset: timedelta = timedelta(0)
    ) -> GroupIndex:
        """The combined group key of every row, times the level-code count, plus its level code.

        One ``np.bincount`` of the result counts every (group, metric, level) at
        once. It is computed once per (by, every, offset) and kept.
        """
        cache_key = ("groups", by, every, utc_offset)
        cached = self._cache.get(cache_key)
        if cached is None:
            cached = self._cache[cache_key] = GroupIndex.build(self, by, every, utc_offset)
        return cached  # type: ignore[no-any-return,unused-ignore]

    # -- building --------------------------------------------------------------------

    @classmethod
    def from_columns(  # noqa: C901, PLR0912, PLR0915 - one linear pass of checks, column by column
        cls,
        columns: Mapping[str, Column],
        *,
        metric: str = "metric",
        score: str = "score",
        time: str | None = "answered_at",
        weight: str | None = None,
        respondent: str | None = "respondent",
        dimensions: Sequence[str] | None = None,
        registry: MetricRegistry | None = None,
        invalid: InvalidPolicy = "raise",
        include_agents: bool = False,
        source: str = "score table",
        first_row: int = 1,
    ) -> ResponseFrame:
        """Build a frame from a long table: one row per answer.

        Args:
            columns: Column name to values (numpy arrays or sequences).
            metric: The column naming each row's metric (``nps``, ``csat``...).
            score: The column holding the answer. Blank or NA means unanswered.
            time: The column with the answer's time (ISO 8601 text or datetimes;
                without a time zone, UTC is assumed). Optional: ignored if absent.
            weight: The column holding a weight per row, if any.
            respondent: A column saying ``customer``, ``anonymous`` or ``agent``;
                if present, agent-reported rows are left out unless *include_agents*.
            dimensions: The columns to group by; by default every other column.
            registry: The metrics to read scales from (the process-wide one by default).
            invalid: ``raise`` (the default) or ``drop`` invalid rows.
            include_agents: Keep agent-reported rows.
            source: How to name the input in error messages.
            first_row: The number the first row has in error messages:
                :meth:`from_csv` passes 2, so that rows are numbered as an
                editor numbers the file's lines (the header is line 1).

        Raises:
            ScoreInputError: Naming the row, column and value of every problem
                (the first 20 rows are listed, in ascending order), unless
                *invalid* is ``drop``.
            CxError: If the metric or score column is missing.

        .. versionadded:: 0.1.0
        """
        registry = metric_registry() if registry is None else registry
        if invalid not in ("raise", "drop"):
            msg = f"invalid={invalid!r} is not a policy (expected 'raise' or 'drop')"
            raise CxError(msg)
        for required in (metric, score):
            if required not in columns:
                known = ", ".join(columns) or "none"
                msg = f"{source} has no column {required!r}; its columns are: {known}"
                raise CxError(msg)
        special = {metric, score, time, weight, respondent} - {None}
        if dimensions is None:
            dimensions = [c for c in columns if c not in special]
        else:
            unknown = [d for d in dimensions if d not in columns]
            if unknown:
                msg = f"{source} has no column(s) {', '.join(map(repr, unknown))} to group by"
                raise CxError(msg)
        problems = _Problems(source, drop=invalid == "drop", first_row=first_row)
        metric_codes, metric_values = _encode(columns[metric])
        n = len(metric_codes)
        keep = np.ones(n, dtype=bool)
        excluded_agents = 0
        if respondent is not None and respondent in columns:
            rcodes, rvalues = _encode(columns[respondent])
            _check_respondent_kinds(rvalues, respondent, source)
            if not include_agents:
                agent_codes = [i for i, v in enumerate(rvalues) if v == RespondentKind.AGENT.value]
                agents = np.isin(rcodes, agent_codes)
                excluded_agents = int(agents.sum())
                keep &= ~agents
            if include_agents and respondent not in dimensions:
                dimensions = [*dimensions, respondent]
        metrics: list[Metric] = []
        code_map = np.full(len(metric_values), -1, dtype=np.int64)
        for i, name in enumerate(metric_values):
            if name is None:
                rows = np.flatnonzero(metric_codes == i)
                problems.rows(
                    rows, metric, lambda _r: "is empty (expected a metric name)", "metric is empty"
                )
                continue
            try:
                found = registry.get(str(name))
            except UnknownMetricError as exc:
                rows = np.flatnonzero((metric_codes == i) & keep)
                problems.rows(rows, metric, _constant(str(exc)), f"unknown metric {name!r}")
                continue
            code_map[i] = len(metrics)
            metrics.append(found)
        codes = code_map[metric_codes]
        known_metric = codes >= 0
        scores, valid, skipped_mask = _scores_from_column(columns[score], score, problems)
        lows = np.array([m.low for m in metrics] or [0], dtype=np.int64)
        highs = np.array([m.high for m in metrics] or [0], dtype=np.int64)
        safe = np.where(known_metric, codes, 0)
        in_range = (scores >= lows[safe]) & (scores <= highs[safe])
        off = np.flatnonzero(known_metric & valid & ~in_range & keep)
        problems.rows(
            off,
            score,
            lambda r: (
                f"{int(scores[r])} is not on the {metrics[safe[r]].name} scale "
                f"(expected a whole number from {metrics[safe[r]].low} to {metrics[safe[r]].high})"
            ),
            "score is outside the scale",
        )
        times = None
        if time is not None and time in columns:
            times, bad_time = _times_from_column(columns[time], time, problems)
            keep &= ~bad_time
        weights = None
        if weight is not None:
            if weight not in columns:
                msg = f"{source} has no weight column {weight!r}"
                raise CxError(msg)
            weights, bad_weight = _weights_from_column(columns[weight], weight, problems)
            keep &= ~bad_weight
        problems.raise_if_any()
        skipped = int((skipped_mask & keep & known_metric).sum())
        keep &= known_metric & valid & in_range & ~skipped_mask
        dims = {}
        for name in dimensions:
            dcodes, dvalues = _encode(columns[name])
            dims[name] = Dimension(name, dcodes[keep], dvalues)
        return cls(
            metrics=metrics,
            metric_codes=codes[keep],
            scores=scores[keep],
            dimensions=_compact(dims),
            time=None if times is None else times[keep],
            weight=None if weights is None else weights[keep],
            dropped=dict(problems.reasons),
            skipped=skipped,
            excluded_agents=excluded_agents,
        )

    @classmethod
    def from_responses(  # noqa: C901, PLR0912, PLR0915 - one linear pass of checks, answer by answer
        cls,
        responses: Iterable[Response],
        surveys: Iterable[Survey] | Mapping[tuple[str, int], Survey],
        *,
        registry: MetricRegistry | None = None,
        include_agents: bool = False,
        complete_only: bool = False,
        weights: Callable[[Response], float] | Mapping[str, float] | None = None,
        invalid: InvalidPolicy = "raise",
    ) -> ResponseFrame:
        """Build a frame from :class:`~cxcore.model.Response` objects.

        Every answered scored question of each response becomes one row, on
        its metric's scale (an inverted CES is turned round by
        :meth:`~cxcore.model.ScoredQuestion.canonical`). Questions not
        answered give no row. A partial response's answers count (a one-click
        NPS from an email is a partial response); pass *complete_only* to
        count only completed responses. The time of a row is the response's
        ``completed_at``, or ``updated_at`` while it is partial. Dimensions are
        those of :func:`response_dimensions`, plus ``question``. A dimension
        is missing (``None``) only where a response has no value for it: text
        such as ``""`` or ``"n/a"`` is a value, as it is in a store and in
        :class:`LiveScoreboard`; only :meth:`from_columns` and the files read
        through it take such text for missing.

        Args:
            responses: The responses.
            surveys: The surveys answered, as a sequence or keyed by ``(id, version)``.
            registry: The metrics (the process-wide registry by default).
            include_agents: Count agent-reported responses too.
            complete_only: Count only completed responses.
            weights: A weight per response: a mapping from response id, or a function.
            invalid: ``raise`` (the default) or ``drop`` invalid answers.

        Raises:
            ScoreInputError: Naming the response and question of every invalid
                answer, unknown survey or unknown metric.

        .. versionadded:: 0.1.0
        """
        registry = metric_registry() if registry is None else registry
        by_version = (
            dict(surveys)
            if isinstance(surveys, Mapping)
            else {(s.id, s.version): s for s in surveys}
        )
        problems: list[Problem] = []
        reasons: Counter[str] = Counter()
        metric_index: dict[str, int] = {}
        metrics: list[Metric] = []
        rows_metric: list[int] = []
        rows_score: list[int] = []
        rows_time: list[int] = []
        rows_weight: list[float] = []
        rows_dims: list[dict[str, GroupValue]] = []
        excluded_agents = 0
        epoch = datetime(1970, 1, 1, tzinfo=UTC)

        def problem(where: str, message: str, reason: str) -> None:
            reasons[reason] += 1
            problems.append(Problem(where, message))

        for i, response in enumerate(responses):
            if response.respondent is RespondentKind.AGENT and not include_agents:
                excluded_agents += 1
                continue
            if complete_only and response.status is not ResponseStatus.COMPLETE:
                continue
            where = f"responses[{i}] {response.id!r}"
            survey = by_version.get((response.survey_id, response.survey_version))
            if survey is None:
                problem(
                    where,
                    f"survey {response.survey_id!r} v{response.survey_version} "
                    "is not among the surveys given",
                    "unknown survey",
                )
                continue
            dims = response_dimensions(response)
            at = response.completed_at or response.updated_at
            micros = (at - epoch) // timedelta(microseconds=1)
            w = 1.0
            if weights is not None:
                w = float(
                    weights(response) if callable(weights) else weights.get(response.id, math.nan)
                )
                if not (math.isfinite(w) and w >= 0):
                    problem(
                        f"{where}.weight",
                        f"{w!r} is not a finite weight of 0 or more",
                        "weight is invalid",
                    )
                    continue
            for question in survey.scored_questions():
                if question.id not in response.answers:
                    continue  # unanswered: not counted
                value = response.answers[question.id]
                qwhere = f"{where}.answers.{question.id}"
                message = question.check_answer(value)
                if message is not None:
                    problem(qwhere, message, "score is outside the scale")
                    continue
                assert isinstance(value, int)  # noqa: S101 - check_answer accepts only whole numbers
                try:
                    found = registry.get(question.metric_name)
                except UnknownMetricError as exc:
                    problem(qwhere, str(exc), f"unknown metric {question.metric_name!r}")
                    continue
                canonical = question.canonical(value)
                if not found.low <= canonical <= found.high:
                    problem(
                        qwhere,
                        f"{canonical} is not on the {found.name} scale "
                        f"(expected a whole number from {found.low} to {found.high})",
                        "score is outside the scale",
                    )
                    continue
                code = metric_index.get(found.name)
                if code is None:
                    code = metric_index[found.name] = len(metrics)
                    metrics.append(found)
                rows_metric.append(code)
                rows_score.append(canonical)
                rows_time.append(micros)
                rows_weight.append(w)
                rows_dims.append({**dims, "question": question.id})
        if problems and invalid == "raise":
            listed = problems[:_MAX_LISTED]
            if len(problems) > _MAX_LISTED:
                listed.append(Problem("", f"... and {len(problems) - _MAX_LISTED} more"))
            raise ScoreInputError("responses", listed)
        names: list[str] = []
        for row in rows_dims:
            for name in row:
                if name not in names:
                    names.append(name)
        # Typed values: only an absent one is missing. Text like "" or "n/a" is a value
        # here, as in a store and the live scorer; only text files read it as missing.
        dims_out = {
            name: Dimension.encode(name, [row.get(name) for row in rows_dims]) for name in names
        }
        return cls(
            metrics=metrics,
            metric_codes=np.asarray(rows_metric, dtype=np.int16),
            scores=np.asarray(rows_score, dtype=np.int32),
            dimensions=dims_out,
            time=np.asarray(rows_time, dtype=np.int64),
            weight=None if weights is None else np.asarray(rows_weight, dtype=np.float64),
            dropped=dict(reasons),
            excluded_agents=excluded_agents,
        )

    @classmethod
    def from_arrow(cls, table: Any, **options: Any) -> ResponseFrame:  # noqa: ANN401 - pyarrow.Table
        """Build a frame from a ``pyarrow.Table`` in the long layout of :meth:`from_columns`.

        Text columns are dictionary-encoded by Arrow, without Python loops.
        Options are those of :meth:`from_columns`.

        .. versionadded:: 0.1.0
        """
        pa = optional_module("pyarrow", "reading Arrow tables")
        pc = optional_module("pyarrow.compute", "reading Arrow tables")
        columns: dict[str, Column] = {}
        for name in table.column_names:
            col = table.column(name)
            kind = col.type
            if (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or pa.types.is_dictionary(kind)
            ):
                encoded = col if pa.types.is_dictionary(kind) else pc.dictionary_encode(col)
                encoded = (
                    encoded.combine_chunks() if hasattr(encoded, "combine_chunks") else encoded
                )
                indices = encoded.indices.to_numpy(zero_copy_only=False)
                codes = np.where(
                    np.asarray(
                        encoded.indices.is_valid().to_numpy(zero_copy_only=False), dtype=bool
                    ),
                    np.nan_to_num(indices, nan=-1).astype(np.int64),
                    -1,
                )
                columns[name] = _Encoded(codes, tuple(encoded.dictionary.to_pylist()))
            elif pa.types.is_timestamp(kind):
                utc = (
                    pc.cast(col, pa.timestamp("us", tz="UTC"))
                    if kind.tz
                    else pc.cast(col, pa.timestamp("us"))
                )
                ints = pc.cast(utc, pa.int64()).to_numpy(zero_copy_only=False)
                valid = col.is_valid().to_numpy(zero_copy_only=False)
                columns[name] = (
                    np.where(valid, np.nan_to_num(ints, nan=0), np.iinfo(np.int64).min)
                    .astype(np.int64)
                    .view("datetime64[us]")
                )
            elif col.null_count and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                columns[name] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            else:
                columns[name] = col.to_numpy(zero_copy_only=False)
        return cls.from_columns(columns, **options)

    @classmethod
    def from_csv(cls, path: str | Path, **options: Any) -> ResponseFrame:  # noqa: ANN401
        """Read a long CSV table (with a header row) with pyarrow if installed, else the csv module.

        Options are those of :meth:`from_columns`. Rows in error messages are
        numbered as an editor numbers the lines: the first data row is row 2.

        .. versionadded:: 0.1.0
        """
        path = Path(path)
        options.setdefault("source", str(path))
        options.setdefault("first_row", 2)  # the header is line 1, as an editor shows it
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not a character cut at the end of the sample
                msg = (
                    f"{path} is not UTF-8 text (a binary file?): byte {head[exc.start]:#04x} "
                    f"at offset {exc.start}"
                )
                raise CxError(msg) from None
        try:
            pacsv = optional_module("pyarrow.csv", "reading CSV quickly")
        except ImportError:
            pacsv = None
        if pacsv is not None:
            try:
                table = pacsv.read_csv(path)
            except FileNotFoundError:
                raise
            except Exception as exc:
                msg = f"{path} is not a readable CSV file: {exc}"
                raise CxError(msg) from exc
            return cls.from_arrow(table, **options)
        import csv  # noqa: PLC0415 - only without pyarrow

        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                msg = f"{path} is empty (expected a header row)"
                raise CxError(msg)
            data: list[list[str]] = [[] for _ in header]
            for row in reader:
                for j, cell in enumerate(row[: len(header)]):
                    data[j].append(cell)
                for j in range(len(row), len(header)):
                    data[j].append("")
        return cls.from_columns(
            {
                name: np.asarray(values, dtype=object)
                for name, values in zip(header, data, strict=True)
            },
            **options,
        )

    @classmethod
    def from_parquet(cls, path: str | Path, **options: Any) -> ResponseFrame:  # noqa: ANN401
        """Read a long Parquet table (needs pyarrow). Options are those of :meth:`from_columns`.

        .. versionadded:: 0.1.0
        """
        pq = optional_module("pyarrow.parquet", "reading Parquet files")
        options.setdefault("source", str(path))
        try:
            table = pq.read_table(path)
        except FileNotFoundError:
            raise
        except Exception as exc:
            msg = f"{path} is not a readable Parquet file: {exc}"
            raise CxError(msg) from exc
        return cls.from_arrow(table, **options)

    @classmethod
    def from_pandas(cls, df: Any, **options: Any) -> ResponseFrame:  # noqa: ANN401 - a pandas.DataFrame
        """Build a frame from a pandas DataFrame in the long layout of :meth:`from_columns`.

        .. versionadded:: 0.1.0
        """
        pd = optional_module("pandas", "reading pandas DataFrames")
        columns: dict[str, Column] = {}
        for name in df.columns:
            series = df[name]
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                columns[str(name)] = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            elif series.dtype.kind in "iufbM":
                columns[str(name)] = series.to_numpy()
            elif pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(
                series.dtype
            ):
                columns[str(name)] = series.to_numpy(dtype="float64", na_value=np.nan)
            else:
                codes, uniques = pd.factorize(series, use_na_sentinel=True)
                columns[str(name)] = _Encoded(
                    np.asarray(codes, dtype=np.int64), tuple(uniques.tolist())
                )
        return cls.from_columns(columns, **options)

    @classmethod
    def from_polars(cls, df: Any, **options: Any) -> ResponseFrame:  # noqa: ANN401 - a polars.DataFrame
        """Build a frame from a polars DataFrame in the long layout of :meth:`from_columns`.

        .. versionadded:: 0.1.0
        """
        pl = optional_module("polars", "reading polars DataFrames")
        columns: dict[str, Column] = {}
        for name in df.columns:
            series = df.get_column(name)
            dtype = series.dtype
            if dtype.is_temporal() and isinstance(dtype, pl.Datetime):
                if dtype.time_zone is not None:
                    series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
                columns[name] = series.dt.cast_time_unit("us").to_numpy()
            elif dtype.is_numeric():
                columns[name] = (
                    series.cast(pl.Float64).to_numpy() if series.null_count() else series.to_numpy()
                )
            else:
                text = series.cast(pl.String)
                uniques = text.drop_nulls().unique(maintain_order=True)
                codes = text.replace_strict(
                    uniques,
                    pl.int_range(len(uniques), eager=True),
                    default=-1,
                    return_dtype=pl.Int64,
                )
                columns[name] = _Encoded(codes.to_numpy(), tuple(uniques.to_list()))
        return cls.from_columns(columns, **options)

    # -- exporting --------------------------------------------------------------------

    def to_columns(self) -> dict[str, NDArray[Any]]:
        """The frame as numpy columns: metric names, scores, time, weight and dimension values."""
        names = np.asarray(self.metrics or ("",), dtype=object)
        out: dict[str, NDArray[Any]] = {
            "metric": names[self._metric_codes],
            "score": self._scores.copy(),
        }
        if self._time is not None:
            out["answered_at"] = self._time.view("datetime64[us]").copy()
        if self._weight is not None:
            out["weight"] = self._weight.copy()
        for name, dim in self.dimensions.items():
            out[name] = dim.decoded()
        return out

    def to_pandas(self) -> Any:  # noqa: ANN401 - a pandas.DataFrame
        """The frame as a pandas DataFrame: categorical metric and dimensions, UTC times.

        .. versionadded:: 0.1.0
        """
        pd = optional_module("pandas", "exporting to pandas")
        data: dict[str, Any] = {
            "metric": pd.Categorical.from_codes(self._metric_codes, categories=list(self.metrics)),
            "score": self._scores,
        }
        if self._time is not None:
            data["answered_at"] = pd.to_datetime(self._time.view("datetime64[us]"), utc=True)
        if self._weight is not None:
            data["weight"] = self._weight
        for name, dim in self.dimensions.items():
            present = [v for v in dim.values if v is not None]
            remap = np.array(
                [present.index(v) if v is not None else -1 for v in dim.values] or [0],
                dtype=np.int64,
            )
            data[name] = pd.Categorical.from_codes(remap[dim.codes], categories=present)
        return pd.DataFrame(data)

    def to_polars(self) -> Any:  # noqa: ANN401 - a polars.DataFrame
        """The frame as a polars DataFrame: UTC times, dimension values as they were given.

        .. versionadded:: 0.1.0
        """
        pl = optional_module("polars", "exporting to polars")
        data: dict[str, Any] = {
            "metric": pl.Series("metric", list(self.metrics), dtype=pl.String).gather(
                self._metric_codes
            ),
            "score": pl.Series("score", self._scores),
        }
        if self._time is not None:
            data["answered_at"] = pl.Series(
                "answered_at", self._time.view("datetime64[us]")
            ).dt.replace_time_zone("UTC")
        if self._weight is not None:
            data["weight"] = pl.Series("weight", self._weight)
        for name, dim in self.dimensions.items():
            data[name] = pl.Series(name, list(dim.values), strict=False).gather(dim.codes)
        return pl.DataFrame(data)


def _compact(dims: Mapping[str, Dimension]) -> dict[str, Dimension]:
    """Drop dimension values no longer used by any row (after invalid rows were removed)."""
    out = {}
    for name, dim in dims.items():
        used = np.bincount(dim.codes, minlength=len(dim.values)) > 0
        if bool(used.all()):
            out[name] = dim
            continue
        remap = np.cumsum(used) - 1
        values = tuple(v for v, u in zip(dim.values, used.tolist(), strict=True) if u)
        out[name] = Dimension(name, remap[dim.codes].astype(np.int32), values)
    return out


@attrs.frozen(eq=False)
class GroupIndex:
    """The cached grouping of a frame: per row, ``group * n_codes + level_code``.

    Attributes:
        index: Per row, the bin to count it in.
        n_groups: How many groups (bins are ``n_groups * n_codes``).
        n_codes: How many (metric, level) codes the frame has.
        group_codes: Per group, the code of each dimension of *by*.
        group_periods: Per group, the first day (days since 1970-01-01) of its
            period, or -1 for rows without a time; ``None`` when not grouped by time.
        by: The dimensions.
        every: The period.

    .. versionadded:: 0.1.0
    """

    index: NDArray[np.int64]
    n_groups: int
    n_codes: int
    group_codes: tuple[NDArray[np.int64], ...]
    group_periods: NDArray[np.int64] | None
    by: tuple[str, ...]
    every: Period | None

    @classmethod
    def build(
        cls, frame: ResponseFrame, by: tuple[str, ...], every: Period | None, utc_offset: timedelta
    ) -> GroupIndex:
        """Compute the combined key of every row of *frame*."""
        n = len(frame)
        n_codes = frame.level_offsets[-1] or 1
        radices: list[int] = []
        key = np.zeros(n, dtype=np.int64)
        for name in by:
            dim = frame._dimension(name)  # noqa: SLF001 - same module
            card = max(len(dim.values), 1)
            key *= card
            key += dim.codes
            radices.append(card)
        period_values: NDArray[np.int64] | None = None
        if every is not None:
            if frame._time is None:  # noqa: SLF001 - same module
                msg = "the frame has no answer times, so it cannot be grouped by day, week or month"
                raise CxError(msg)
            starts, has_time = _period_starts(frame._time, every, utc_offset)  # noqa: SLF001
            first = int(starts[has_time].min()) if has_time.any() else 0
            last = int(starts[has_time].max()) if has_time.any() else -1
            span = last - first + 1
            codes = np.where(has_time, starts - first, span)
            card = span + 1
            key *= card
            key += codes
            radices.append(card)
            period_values = np.arange(first, first + card, dtype=np.int64)
            period_values[-1] = -1
        total = math.prod(radices)
        if total * n_codes <= max(1 << 22, 2 * n):
            group_ids = np.arange(total, dtype=np.int64)
            index = key
        else:
            group_ids, inverse = np.unique(key, return_inverse=True)
            index = inverse.astype(np.int64).reshape(-1)
            total = len(group_ids)
        index *= n_codes
        index += frame.level_codes
        parts: list[NDArray[np.int64]] = []
        rest = group_ids
        for card in reversed(radices):
            parts.append(rest % card)
            rest = rest // card
        parts.reverse()
        periods = None
        if every is not None:
            assert period_values is not None  # noqa: S101 - set above
            periods = period_values[parts.pop()]
        return cls(
            index=index,
            n_groups=int(total),
            n_codes=n_codes,
            group_codes=tuple(parts),
            group_periods=periods,
            by=by,
            every=every,
        )


def _period_starts(
    micros: NDArray[np.int64], every: Period, utc_offset: timedelta
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per row, the first day of its period (days since 1970-01-01), and whether it has a time."""
    has_time = micros != np.iinfo(np.int64).min
    shift = utc_offset // timedelta(microseconds=1)
    days = np.where(has_time, micros + shift, 0) // _US_PER_DAY
    if every is Period.DAY:
        starts = days
    elif every is Period.WEEK:
        starts = days - (days + 3) % 7
    else:
        starts = (
            days.astype("datetime64[D]")
            .astype("datetime64[M]")
            .astype("datetime64[D]")
            .astype(np.int64)
        )
    return starts, has_time
