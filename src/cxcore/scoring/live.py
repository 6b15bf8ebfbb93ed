"""The live scoreboard: scores updated per answer in O(1), per segment and over rolling windows.

Plain Python counters: for each segmentation, a dict from segment key to a
list holding the count of every (metric, level). Adding an answer increments
one counter per segmentation; reading a segment's score is one dict lookup and
a few additions. The counts are exactly those the batch scorer makes, and cells
are computed by the same :func:`~cxcore.scoring.cell_from_levels`, so the live
and batch numbers are identical.

Rolling windows cost nothing per answer of the latest day. With ``K`` the
largest window and ``L`` the latest day seen, the board keeps the days
``L - K + 1`` to ``L``; ``L - K`` and before are past the *horizon*. A
windowed segment's row holds, after its totals ``T``:

* its *snapshots*: for each day ``e`` from ``L - K`` to ``L - 1``, the row's
  on-time counts when day ``e`` closed (when a later day arrived), that is the
  counts of the answers of day ``e`` or before that arrived on their day;
* its *late counts* (``None`` until it has any): ``E``, the counts of every
  answer that did not arrive on its day, then the late answers of each kept
  day, in a ring of ``K`` slots.

An answer of day ``L`` only increments ``T``. An answer of a later day first
moves ``L``: the closing days get snapshots of ``T - E`` and the ring slots of
the new days are emptied, in every windowed row (O(segments), once per day).
An answer of a kept day ``d < L`` (late, in any order) increments ``T``, ``E``
and the ring slot of ``d``: O(1). An answer of a day past the horizon, or a
frame's row without a time, increments ``T`` and ``E`` only: it counts in the
totals and the segmentations by period, never in a rolling window.

The window of days ``a + 1`` to ``b`` is then ``on_time(b) - snapshot(a)``,
plus the late slots of its days if the row has late answers, where
``on_time(L) = T - E`` and ``on_time(e) = snapshot(e)`` before: O(1) for a
segment whose answers all arrived on their day, O(window) otherwise.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from cxcore.display import DEFAULT_MAX_ROWS, Column, Table, TableDisplay, fmt_count, fmt_text
from cxcore.errors import CxError, Problem, UnknownMetricError
from cxcore.metrics import Headline, Metric, MetricRegistry, metric_registry
from cxcore.model.response import RespondentKind, Response, ResponseStatus
from cxcore.model.survey import Survey
from cxcore.scoring.cells import (
    DEFAULT_MIN_N,
    Cell,
    GroupValue,
    Period,
    cell_from_levels,
    day_number,
    period_start,
    resolve_method,
)
from cxcore.scoring.inputs import ScoreInputError, response_dimensions
from cxcore.scoring.stats import IntervalMethod, z_value

if TYPE_CHECKING:
    from cxcore.scoring.frame import ResponseFrame

__all__ = ["LiveScoreboard", "Segmentation"]

_EPOCH = date(1970, 1, 1)


def _as_tuple(value: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(value)


def _as_period(value: Period | str | None) -> Period | None:
    return None if value is None else Period(value)


@attrs.frozen
class Segmentation:
    """A way of cutting the scores: by some dimensions, and optionally by period.

    >>> Segmentation("store_touchpoint", ("store", "touchpoint"))
    Segmentation(name='store_touchpoint', by=('store', 'touchpoint'), every=None)

    Attributes:
        name: How the scoreboard calls it.
        by: The dimensions (none for the overall score).
        every: Also cut by ``day``, ``week`` or ``month``.

    .. versionadded:: 0.1.0
    """

    name: str
    by: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    every: Period | None = attrs.field(default=None, converter=_as_period)


class LiveScoreboard(TableDisplay):
    """Scores that update with every answer, for several segmentations at once.

    >>> from datetime import datetime, timezone
    >>> board = LiveScoreboard([Segmentation("overall"), Segmentation("store", ("store",))],
    ...                        metrics=["nps"])
    >>> at = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    >>> for value, store in [(10, "A"), (9, "A"), (3, "B")]:
    ...     _ = board.add("nps", value, at=at, dimensions={"store": store})
    >>> board.score("store", ("A",), "nps"), board.score("overall", (), "nps")
    (100.0, 33.333333333333336)
    >>> print(board)
    LiveScoreboard
    segmentation  by         every  segments
    ------------  ---------  -----  --------
    overall       (overall)  —             1
    store         store      —             2
    Answers counted: nps 3.
    Latest day seen: 2026-03-02.
    Rolling windows: 7, 30 days.

    Args:
        segmentations: The segmentations to keep, as :class:`Segmentation`
            objects or a mapping of name to dimensions.
        metrics: The metrics to keep (every registered metric by default).
        registry: Where the metrics are defined (the process-wide registry by default).
        windows: The rolling windows, in days (see the module's docstring for late answers).
        include_agents: Count agent-reported answers too.
        complete_only: Count only completed responses (in :meth:`add_response`).
        utc_offset: The offset from UTC in which days begin.
        interval: The headline interval's method for :meth:`cell`.
        confidence: The confidence level of intervals.
        min_n: The low-n threshold of cells.

    Raises:
        CxError: For a repeated segmentation name, or windows that are not positive.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        segmentations: Iterable[Segmentation] | Mapping[str, Sequence[str] | str],
        *,
        metrics: Iterable[str] | None = None,
        registry: MetricRegistry | None = None,
        windows: Sequence[int] = (7, 30),
        include_agents: bool = False,
        complete_only: bool = False,
        utc_offset: timedelta = timedelta(0),
        interval: IntervalMethod | str = IntervalMethod.AUTO,
        confidence: float = 0.95,
        min_n: int = DEFAULT_MIN_N,
    ) -> None:
        registry = metric_registry() if registry is None else registry
        if isinstance(segmentations, Mapping):
            segs = [Segmentation(name, by) for name, by in segmentations.items()]
        else:
            segs = list(segmentations)
        names = [s.name for s in segs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            msg = f"segmentation name(s) {', '.join(map(repr, repeated))} are used more than once"
            raise CxError(msg)
        if any(w < 1 for w in windows):
            msg = f"windows {tuple(windows)!r} must be whole numbers of days, 1 or more"
            raise CxError(msg)
        self.segmentations: tuple[Segmentation, ...] = tuple(segs)
        self._seg_index = {s.name: i for i, s in enumerate(segs)}
        self._metrics: tuple[Metric, ...] = tuple(
            registry.get(name) for name in (registry.names() if metrics is None else metrics)
        )
        for m in self._metrics:
            resolve_method(m, interval)
        z_value(confidence)
        self._metric_index = {m.name: i for i, m in enumerate(self._metrics)}
        offsets = [0]
        for m in self._metrics:
            offsets.append(offsets[-1] + len(m.levels))
        self._offsets = tuple(offsets)
        self._n_codes = offsets[-1]
        dims: list[str] = []
        for s in segs:
            for d in s.by:
                if d not in dims:
                    dims.append(d)
        self.dimensions: tuple[str, ...] = tuple(dims)
        self.windows = tuple(sorted(set(windows)))
        self._keep_days = max(self.windows, default=0)
        self.include_agents = include_agents
        self.complete_only = complete_only
        self.utc_offset = utc_offset
        self.interval = interval
        self.confidence = confidence
        self.min_n = min_n
        # Per segmentation, segment key -> row: the count of every code, then, if the
        # segmentation is kept in rolling windows, its snapshots and its late counts.
        self._totals: list[dict[Any, list[Any]]] = [{} for _ in segs]
        self._windowed = (
            tuple(i for i, s in enumerate(segs) if s.every is None) if self._keep_days else ()
        )
        # The latest day seen, in a cell that the generated add_coded reads.
        self._latest: list[int | None] = [None]
        self._months: dict[int, int] = {}
        self._scorers = {m.name: _scorer(m, self._offsets[i]) for i, m in enumerate(self._metrics)}
        self.add_coded: Callable[..., None] = self._compile()
        """The hot path, ``add_coded(code, day, *values)``: count one answer already
        coded (see :meth:`code`), given its day number (see :func:`day_number`) and
        the values of ``dimensions``, in order. It checks nothing."""

    # -- writing -----------------------------------------------------------------------

    def _snapshot_of(self, day: int) -> int:
        """Where the snapshot of *day* (kept, before the latest) begins in a row's snapshots."""
        return self._n_codes * (day % self._keep_days)

    def _late_slot_of(self, day: int) -> int:
        """Where the counts of *day* (kept) begin in a row's late counts."""
        return self._n_codes * (1 + day % self._keep_days)

    def _late_counts(self) -> list[int]:
        return [0] * (self._n_codes * (1 + self._keep_days))

    def _advance(self, day: int) -> None:
        """Make *day* (later than every day seen) the latest: snapshot the days it closes.

        This is the one step that is not O(1): it copies the on-time counts of
        every windowed row, and empties the late counts of the days that left the
        horizon (for the new days), once per new latest day.
        """
        latest, n, keep = self._latest[0], self._n_codes, self._keep_days
        self._latest[0] = day
        first = day - keep if latest is None else max(latest, day - keep)
        starts = [self._snapshot_of(e) for e in range(first, day)]
        first = day - keep + 1 if latest is None else max(latest + 1, day - keep + 1)
        emptied = [self._late_slot_of(d) for d in range(first, day + 1)]
        zeros = [0] * n
        for i in self._windowed:
            for row in self._totals[i].values():
                on_time, late = row[:n], row[n + 1]
                if late is not None:
                    on_time = list(map(operator.sub, on_time, late[:n]))
                    for s in emptied:
                        late[s : s + n] = zeros
                snapshots = row[n]
                for s in starts:
                    snapshots[s : s + n] = on_time

    def _month(self, day: int) -> int:
        start = self._months.get(day)
        if start is None:
            start = self._months[day] = period_start(day, Period.MONTH)
        return start

    def _compile(self) -> Callable[..., None]:
        """Generate this board's update function, unrolled (as attrs generates ``__init__``).

        Each segmentation's table maps a segment key to a row: the count of every
        (metric, level) code; for a segmentation kept in rolling windows, then
        its snapshots and its late counts (see the module's docstring), out of
        the way of the counts. An answer of the latest day increments one count
        per segmentation; any other takes the generated ``other_day``.

        The functions reach the tables and helpers as closure variables: CPython
        looks keyword-only defaults up in a dict on every call, one per name.
        """
        n, keep = self._n_codes, self._keep_days
        args = ", ".join(["code", "day", *(f"v{i}" for i in range(len(self.dimensions)))])
        namespace: dict[str, Any] = {
            "_month": self._month,
            "_row": self._row,
            "_ring": self._ring,
            "_latest": self._latest,
            "_advance": self._advance,
            "_late_counts": self._late_counts,
        }
        namespace.update({f"_t{i}": t for i, t in enumerate(self._totals)})

        def count(*, late: bool = False, kept: bool = False) -> list[str]:
            out = []
            for i, seg in enumerate(self.segmentations):
                parts = [f"v{self.dimensions.index(d)}" for d in seg.by]
                if seg.every is Period.DAY:
                    parts.append("day")
                elif seg.every is Period.WEEK:
                    parts.append("(day - (day + 3) % 7)")
                elif seg.every is Period.MONTH:
                    parts.append("_month(day)")
                key = (
                    "()" if not parts else parts[0] if len(parts) == 1 else f"({', '.join(parts)},)"
                )
                ring = i in self._windowed
                out += [
                    f"k = {key}",
                    "try:",
                    f"    r = _t{i}[k]",
                    "except KeyError:",
                    f"    r = _t{i}[k] = {'_ring' if ring else '_row'}()",
                    "r[code] += 1",
                ]
                if late and ring:
                    out += [
                        f"x = r[{n + 1}]",
                        "if x is None:",
                        f"    x = r[{n + 1}] = _late_counts()",
                        "x[code] += 1",
                    ]
                    if kept:
                        out.append("x[j] += 1")
            return out

        def indent(block: list[str], depth: int) -> list[str]:
            return [" " * 4 * depth + line for line in block]

        source = [f"def other_day({args}):"]
        source += indent(
            [
                "latest = _latest[0]",
                "if latest is None or day > latest:",
                "    _advance(day)",
                *indent(count(), 1),
                f"elif day > latest - {keep}:",
                f"    j = {n} * (1 + day % {keep}) + code",
                *indent(count(late=True, kept=True), 1),
                "else:",
                *indent(count(late=True), 1),
            ],
            1,
        )
        source += [f"def add_coded({args}):"]
        if self._windowed:
            source += indent(["if day != _latest[0]:", f"    return other_day({args})"], 1)
        source += indent(count(), 1)
        source = [
            f"def make({', '.join(namespace)}):",
            *indent(source, 1),
            "    return add_coded",
        ]
        scope: dict[str, Any] = {}
        exec("\n".join(source), scope)  # noqa: S102 - our own generated source, no input in it
        return scope["make"](**namespace)  # type: ignore[no-any-return]

    def _row(self) -> list[int]:
        return [0] * self._n_codes

    def _ring(self) -> list[Any]:
        return [*self._row(), [0] * (self._n_codes * self._keep_days), None]

    def answers(self) -> dict[str, int]:
        """How many answers to each metric have been counted (by the first segmentation)."""
        if not self.segmentations:
            return {m.name: 0 for m in self._metrics}
        totals = [0] * self._n_codes
        for row in self._totals[0].values():
            totals = list(map(operator.add, totals, row[: self._n_codes]))
        return {
            m.name: sum(totals[self._offsets[j] : self._offsets[j + 1]])
            for j, m in enumerate(self._metrics)
        }

    def __repr__(self) -> str:
        counted = sum(self.answers().values())
        names = ", ".join(s.name for s in self.segmentations)
        metrics = ", ".join(m.name for m in self._metrics)
        return f"LiveScoreboard({counted:,} answers, metrics=[{metrics}], segmentations=[{names}])"

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The board as a table: a row per segmentation, with the segments seen so far.

        Args:
            max_rows: Rows shown at most, ``None`` for all.
        """
        answers = ", ".join(f"{name} {count:,}" for name, count in self.answers().items())
        latest = self._latest[0]
        notes = [f"Answers counted: {answers}."]
        if latest is not None:
            notes.append(f"Latest day seen: {(_EPOCH + timedelta(days=latest)).isoformat()}.")
        if self.windows:
            notes.append(f"Rolling windows: {', '.join(str(w) for w in self.windows)} days.")
        return Table(
            title="LiveScoreboard",
            columns=(
                Column("segmentation"),
                Column("by"),
                Column("every", format=fmt_text),
                Column("segments", format=fmt_count, align="right"),
            ),
            rows=[
                (s.name, ", ".join(s.by) or "(overall)", s.every, len(self._totals[i]))
                for i, s in enumerate(self.segmentations)
            ],
            notes=notes,
            max_rows=max_rows,
        )

    def code(self, metric: str, value: int) -> int:
        """The code of answer *value* to *metric*, as :attr:`add_coded` takes it.

        Raises:
            UnknownMetricError: If the board does not keep *metric*.
            CxError: If *value* is not a whole number on the metric's scale.
        """
        i = self._metric_index.get(metric)
        if i is None:
            raise UnknownMetricError(metric, self._metric_index)
        m = self._metrics[i]
        if type(value) is not int or not m.low <= value <= m.high:
            msg = (
                f"{value!r} is not on the {metric} scale "
                f"(expected a whole number from {m.low} to {m.high})"
            )
            raise CxError(msg)
        return self._offsets[i] + value - m.low

    def add(
        self,
        metric: str,
        value: int,
        *,
        at: datetime,
        dimensions: Mapping[str, GroupValue] | None = None,
    ) -> bool:
        """Count one answer.

        Args:
            metric: The metric's name.
            value: The answer, on the metric's scale.
            at: When it was given (an aware datetime).
            dimensions: Its dimensions; missing ones count as ``None``. An answer
                whose ``respondent`` is ``agent`` is skipped unless the board
                includes agents.

        Returns:
            Whether the answer was counted.

        Raises:
            UnknownMetricError: If the board does not keep *metric*.
            CxError: If *value* is off the scale or *at* has no time zone.
        """
        dims = dimensions or {}
        if not self.include_agents and dims.get("respondent") == RespondentKind.AGENT.value:
            return False
        code = self.code(metric, value)
        self.add_coded(
            code, day_number(at, self.utc_offset), *[dims.get(d) for d in self.dimensions]
        )
        return True

    def add_response(self, response: Response, survey: Survey) -> int:
        """Count every answered scored question of *response*, as the batch frame would.

        Returns:
            How many answers were counted.

        Raises:
            ValidationError: If *survey* is not the one answered, or an answer is
                off its scale (nothing of the response is counted then).
        """
        if response.respondent is RespondentKind.AGENT and not self.include_agents:
            return 0
        if self.complete_only and response.status is not ResponseStatus.COMPLETE:
            return 0
        where = f"response {response.id!r}"
        if (response.survey_id, response.survey_version) != (survey.id, survey.version):
            raise ScoreInputError(
                where,
                [
                    Problem(
                        "survey",
                        f"answers survey {response.survey_id!r} v{response.survey_version}, "
                        f"not {survey.id!r} v{survey.version}",
                    )
                ],
            )
        dims = response_dimensions(response)
        day = day_number(response.completed_at or response.updated_at, self.utc_offset)
        pending: list[tuple[int, tuple[GroupValue, ...]]] = []
        problems: list[Problem] = []
        for question in survey.scored_questions():
            if (
                question.id not in response.answers
                or question.metric_name not in self._metric_index
            ):
                continue
            value = response.answers[question.id]
            message = question.check_answer(value)
            if message is not None:
                problems.append(Problem(f"answers.{question.id}", message))
                continue
            assert isinstance(value, int)  # noqa: S101 - check_answer accepts only whole numbers
            try:
                code = self.code(question.metric_name, question.canonical(value))
            except CxError as exc:
                problems.append(Problem(f"answers.{question.id}", str(exc)))
                continue
            row = {**dims, "question": question.id}
            pending.append((code, tuple(row.get(d) for d in self.dimensions)))
        if problems:
            raise ScoreInputError(where, problems)
        for code, values in pending:
            self.add_coded(code, day, *values)
        return len(pending)

    def add_frame(self, frame: ResponseFrame) -> None:
        """Count every row of *frame*, with vectorised counting (to rebuild a board from a store).

        Rows without a time count in the totals (in a ``None`` period where the
        segmentation is by time), never in a rolling window. The rows count as
        answers arriving in the order of their days: the frame's latest day
        moves the board's first, and rows of days before the horizon it sets
        count in no rolling window.

        Raises:
            CxError: If the frame lacks a dimension, or has a metric the board does not keep.
        """
        import numpy as np  # noqa: PLC0415 - only needed for frames

        missing = [d for d in self.dimensions if d not in frame.dimensions]
        if missing:
            names = ", ".join(map(repr, missing))
            msg = f"the frame has no dimension(s) {names} that the board segments by"
            raise CxError(msg)
        remap = []
        for name in frame.metrics:
            if name not in self._metric_index:
                raise UnknownMetricError(name, self._metric_index)
            remap.append(self._offsets[self._metric_index[name]])
        frame_offsets = frame.level_offsets
        code_map = np.zeros(max(frame_offsets[-1], 1), dtype=np.int64)
        for j, start in enumerate(remap):
            code_map[frame_offsets[j] : frame_offsets[j + 1]] = np.arange(
                start, start + frame_offsets[j + 1] - frame_offsets[j]
            )
        if not self.include_agents and "respondent" in frame.dimensions:
            dim = frame.dimensions["respondent"]
            agents = [i for i, v in enumerate(dim.values) if v == RespondentKind.AGENT.value]
            frame = frame.take(~np.isin(dim.codes, agents))
        every = Period.DAY if frame.time is not None else None
        if self._windowed and every is not None:
            self._advance_for(frame)
        for i, seg in enumerate(self.segmentations):
            self._merge(frame, seg, self._totals[i], code_map, ring=i in self._windowed)
        for i in self._windowed:
            self._merge_late(frame, i, every, code_map)

    def _advance_for(self, frame: ResponseFrame) -> None:
        """Move the latest day to *frame*'s latest before counting it: snapshots exclude it."""
        groups = frame.group_index(
            self.segmentations[self._windowed[0]].by, Period.DAY, self.utc_offset
        )
        days = groups.group_periods
        assert days is not None  # noqa: S101 - grouped by day
        known = days[days != -1]
        latest = self._latest[0]
        if known.size and (latest is None or int(known.max()) > latest):
            self._advance(int(known.max()))

    def _merge_late(
        self,
        frame: ResponseFrame,
        i: int,
        every: Period | None,
        code_map: Any,  # noqa: ANN401 - a numpy array
    ) -> None:
        """Count the rows of *frame* not of the latest day in segmentation *i*'s late counts."""
        latest, n = self._latest[0], self._n_codes
        seg = self.segmentations[i]
        for values, day, counts in self._grouped_counts(frame, seg.by, every, code_map):
            if day is not None and day == latest:
                continue  # on time: in the totals only
            row = self._totals[i][values[0] if len(values) == 1 else tuple(values)]
            late = row[n + 1]
            if late is None:
                late = row[n + 1] = self._late_counts()
            for code, count in counts:
                late[code] += count
            if day is None or latest is None or day <= latest - self._keep_days:
                continue  # before the horizon, or without a day: in no window
            s = self._late_slot_of(day)
            for code, count in counts:
                late[s + code] += count

    def _grouped_counts(
        self,
        frame: ResponseFrame,
        by: tuple[str, ...],
        every: Period | None,
        code_map: Any,  # noqa: ANN401
    ) -> Iterable[tuple[Any, int | None, list[tuple[int, int]]]]:
        import numpy as np  # noqa: PLC0415 - only needed for frames

        groups = frame.group_index(by, every, self.utc_offset)
        counts = np.bincount(groups.index, minlength=groups.n_groups * groups.n_codes).reshape(
            groups.n_groups, groups.n_codes
        )
        for g in np.flatnonzero(counts.any(axis=1)).tolist():
            values = [
                frame.dimensions[d].values[int(c[g])]
                for d, c in zip(by, groups.group_codes, strict=True)
            ]
            day = None
            if groups.group_periods is not None:
                raw = int(groups.group_periods[g])
                day = None if raw == -1 else raw
            nonzero = np.flatnonzero(counts[g])
            yield values, day, [(int(code_map[c]), int(counts[g, c])) for c in nonzero.tolist()]

    def _merge(
        self,
        frame: ResponseFrame,
        seg: Segmentation,
        table: dict[Any, list[Any]],
        code_map: Any,  # noqa: ANN401 - a numpy array
        *,
        ring: bool,
    ) -> None:
        for values, day, counts in self._grouped_counts(frame, seg.by, seg.every, code_map):
            parts: list[Any] = list(values)
            if seg.every is not None:
                parts.append(day)
            key = parts[0] if len(parts) == 1 else tuple(parts)
            row = table.get(key)
            if row is None:
                row = table[key] = self._ring() if ring else self._row()
            for code, count in counts:
                row[code] += count

    # -- reading -----------------------------------------------------------------------

    def _key(
        self, seg: Segmentation, key: Sequence[GroupValue] | GroupValue, period: date | None
    ) -> Any:  # noqa: ANN401
        parts = list(key) if isinstance(key, tuple | list) else [key]
        if len(parts) != len(seg.by):
            msg = f"segmentation {seg.name!r} is by {seg.by!r}; the key {key!r} does not match"
            raise CxError(msg)
        if seg.every is not None:
            if period is None:
                msg = f"segmentation {seg.name!r} is by {seg.every.value}; give the period"
                raise CxError(msg)
            parts.append((period - _EPOCH).days)
        return parts[0] if len(parts) == 1 else tuple(parts)

    def _segmentation(self, name: str) -> tuple[int, Segmentation]:
        i = self._seg_index.get(name)
        if i is None:
            msg = (
                f"the scoreboard has no segmentation {name!r}; it has: {', '.join(self._seg_index)}"
            )
            raise CxError(msg)
        return i, self.segmentations[i]

    def score(
        self, segmentation: str, key: Sequence[GroupValue] | GroupValue = (), metric: str = "nps"
    ) -> float | None:
        """The current headline score of one segment: O(1), a dict lookup and a few additions.

        Args:
            segmentation: The segmentation's name.
            key: The segment's values of the segmentation's dimensions (a tuple;
                a single value for one dimension). For a segmentation by
                period, the period's day number is the last element.
            metric: The metric.

        Returns:
            The score, or ``None`` if the segment has no answers to *metric*.
        """
        i = self._seg_index[segmentation]
        if type(key) is tuple and len(key) == 1:
            key = key[0]
        return self._scorers[metric](self._totals[i].get(key))

    def levels(
        self,
        segmentation: str,
        key: Sequence[GroupValue] | GroupValue = (),
        metric: str = "nps",
        *,
        period: date | None = None,
        window: int | None = None,
        today: date | None = None,
    ) -> list[int]:
        """The answer count at each level of *metric* in one segment (over a window, if given)."""
        i, seg = self._segmentation(segmentation)
        if metric not in self._metric_index:
            raise UnknownMetricError(metric, self._metric_index)
        j = self._metric_index[metric]
        start, stop = self._offsets[j], self._offsets[j + 1]
        k = self._key(seg, key, period)
        if window is None:
            row = self._totals[i].get(k)
            return [0] * (stop - start) if row is None else row[start:stop]
        if seg.every is not None:
            msg = f"segmentation {seg.name!r} is by period; rolling windows apply to the others"
            raise CxError(msg)
        if window not in self.windows:
            msg = f"the board keeps windows {self.windows!r}, not {window!r}"
            raise CxError(msg)
        row = self._totals[i].get(k)
        latest = self._latest[0]
        if latest is None or row is None:
            return [0] * (stop - start)
        last = latest if today is None else (today - _EPOCH).days
        # The window's days still kept, a + 1 to b: on_time(b) - snapshot(a), plus late slots.
        b, a = min(last, latest), max(last - window, latest - self._keep_days)
        if a >= b:
            return [0] * (stop - start)
        n = self._n_codes
        snapshots, late = row[n], row[n + 1]
        s = self._snapshot_of(a)
        before = snapshots[s + start : s + stop]
        if b != latest:
            s = self._snapshot_of(b)
            out = list(map(operator.sub, snapshots[s + start : s + stop], before))
        elif late is None:
            return list(map(operator.sub, row[start:stop], before))
        else:
            on_time = map(operator.sub, row[start:stop], late[start:stop])
            out = list(map(operator.sub, on_time, before))
        if late is not None:  # the late answers of the window's days: O(window)
            for day in range(a + 1, b + 1):
                s = self._late_slot_of(day)
                out = list(map(operator.add, out, late[s + start : s + stop]))
        return out

    def cell(
        self,
        segmentation: str,
        key: Sequence[GroupValue] | GroupValue = (),
        metric: str = "nps",
        *,
        period: date | None = None,
        window: int | None = None,
        today: date | None = None,
    ) -> Cell:
        """The full cell of one segment: counts, shares, score, intervals, low-n flag.

        Args:
            segmentation: The segmentation's name.
            key: The segment's dimension values.
            metric: The metric.
            period: The first day of the period, for a segmentation by period.
            window: Score only the last *window* days (one of ``windows``).
            today: The last day of the window (the latest day seen by default).
                Only the days after the horizon are kept: those after the latest
                day seen minus the largest window. A window reaching before it
                counts only its kept days. Either way, a window is read in O(1).

        Raises:
            CxError: For an unknown segmentation, a key that does not match it, or
                a window the board does not keep.
        """
        _, seg = self._segmentation(segmentation)
        levels = self.levels(segmentation, key, metric, period=period, window=window, today=today)
        parts = tuple(key) if isinstance(key, tuple | list) else (key,)
        return cell_from_levels(
            self._metrics[self._metric_index[metric]],
            levels,
            by=seg.by,
            key=parts,
            period=period,
            method=self.interval,
            confidence=self.confidence,
            min_n=self.min_n,
        )

    def keys(self, segmentation: str) -> list[tuple[tuple[GroupValue, ...], date | None]]:
        """Every segment seen in *segmentation*: its key and, if by period, its period."""
        i, seg = self._segmentation(segmentation)
        out = []
        for k in self._totals[i]:
            parts = list(k) if isinstance(k, tuple) else [k]
            if len(seg.by) + (seg.every is not None) == 0:
                parts = []
            period = None
            if seg.every is not None:
                raw = parts.pop()
                period = None if raw is None else _EPOCH + timedelta(days=raw)
            out.append((tuple(parts), period))
        return out

    def snapshot(self, segmentation: str, metric: str = "nps") -> list[Cell]:
        """The cell of every segment seen in *segmentation*, in no particular order."""
        return [
            self.cell(segmentation, key, metric, period=period)
            for key, period in self.keys(segmentation)
        ]


def _scorer(metric: Metric, offset: int) -> Callable[[list[int] | None], float | None]:
    """Generate the headline of *metric* from a counts row, with the batch scorer's operations."""
    levels = range(metric.low, metric.high + 1)
    table = metric.bucket_table()
    index = {b.name: i for i, b in enumerate(metric.buckets)}

    def terms(bucket: str | None) -> str:
        if bucket is None:
            return "0"
        cols = [f"r[{offset + j}]" for j, b in enumerate(table) if b == index[bucket]]
        return "(" + " + ".join(cols) + ")" if cols else "0"

    n = " + ".join(f"r[{offset + j}]" for j in range(len(levels)))
    if metric.headline is Headline.NET:
        body = f"100.0 * ({terms(metric.positive)} - {terms(metric.negative)}) / n"
    elif metric.headline is Headline.TOP_BOX:
        body = f"100.0 * {terms(metric.positive)} / n"
    else:
        total = " + ".join(f"r[{offset + j}] * {v}" for j, v in enumerate(levels))
        body = f"float({total}) / n"
    source = (
        "def score(r):\n"
        "    if r is None:\n"
        "        return None\n"
        f"    n = {n}\n"
        "    if not n:\n"
        "        return None\n"
        f"    return {body}\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - our own generated source, no input in it
    return namespace["score"]  # type: ignore[no-any-return]
