"""The metric registry: what each score means, in one place.

A :class:`Metric` declares its scale, the label of each level (per locale), the
buckets it counts (promoters, passives, detractors...), which end of the scale
is good, and how its headline number is formed. Scoring, templates and reports
all read the same registry, so a custom metric you register works everywhere.

>>> nps = get_metric("nps")
>>> nps.bucket_of(9).name, nps.bucket_of(6).name
('promoter', 'detractor')
>>> nps.score({"promoter": 50, "passive": 30, "detractor": 20}, n=100, total=0.0)
30.0
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import cast

import attrs

from cxcore.errors import CxError, UnknownMetricError
from cxcore.model._checks import Checks, as_tuple, member_or_value
from cxcore.model.frozendict import FrozenDict
from cxcore.model.survey import Direction
from cxcore.model.text import LocalizedText

__all__ = [
    "Bucket",
    "Headline",
    "Metric",
    "MetricRegistry",
    "default_metrics",
    "get_metric",
    "metric_registry",
    "register_metric",
]


class Headline(enum.StrEnum):
    """How a metric's headline number is formed from its answers.

    .. versionadded:: 0.1.0
    """

    NET = "net"
    """Percent in the positive bucket minus percent in the negative one (NPS: -100 to 100)."""
    TOP_BOX = "top_box"
    """Percent in the positive bucket (CSAT top-2-box, CES % agree: 0 to 100)."""
    MEAN = "mean"
    """The mean answer, on the metric's own scale (star ratings)."""


def _direction(value: Direction | str) -> Direction:
    return member_or_value(Direction, value)


def _headline(value: Headline | str) -> Headline:
    return member_or_value(Headline, value)


@attrs.frozen
class Bucket:
    """A named range of answers a metric counts, inclusive at both ends.

    .. versionadded:: 0.1.0
    """

    name: str
    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


def _labels(
    value: Mapping[int, LocalizedText | Mapping[str, str]],
) -> FrozenDict[int, LocalizedText]:
    if not isinstance(value, Mapping):
        return value  # type: ignore[unreachable]  # reported by the checks
    return FrozenDict(
        {k: v if isinstance(v, LocalizedText) else LocalizedText(v) for k, v in value.items()}
    )


def _symbols(value: Mapping[int, str] | None) -> FrozenDict[int, str]:
    return FrozenDict(value or {})


@attrs.frozen(kw_only=True)
class Metric:
    """What one score means: scale, labels, buckets, direction and headline.

    Args:
        name: The id the registry knows it by (``"nps"``).
        title: Its human name (``"Net Promoter Score"``).
        low: The lowest answer on the scale.
        high: The highest answer on the scale.
        direction: Which end of the scale is good.
        buckets: The ranges it counts, without overlaps.
        headline: How the headline number is formed.
        positive: The bucket counted as good (``"promoter"``, ``"top2"``).
        negative: The bucket subtracted, for a net headline (``"detractor"``).
        labels: Labels of the levels, per locale; at least the two ends.
        symbols: Optional glyphs shown for levels (emoji, stars). Responses
            store the level, never the glyph.

    Raises:
        ValidationError: Listing every inconsistency.

    .. versionadded:: 0.1.0
    """

    name: str
    title: str
    low: int
    high: int
    direction: Direction = attrs.field(converter=_direction)
    buckets: tuple[Bucket, ...] = attrs.field(converter=as_tuple)
    headline: Headline = attrs.field(converter=_headline)
    positive: str
    negative: str | None = None
    labels: FrozenDict[int, LocalizedText] = attrs.field(factory=FrozenDict, converter=_labels)
    symbols: FrozenDict[int, str] = attrs.field(factory=FrozenDict, converter=_symbols)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("name", self.name)
        checks.text("title", self.title, single_line=True)
        if (
            checks.is_a("low", self.low, int, "a whole number")
            and checks.is_a("high", self.high, int, "a whole number")
            and self.low >= self.high
        ):
            checks.add("high", f"{self.high} is not above low ({self.low})")
        checks.member("direction", self.direction, Direction, "a direction")
        checks.member("headline", self.headline, Headline, "a headline kind")
        buckets = checks.items("buckets", self.buckets, Bucket, "buckets")
        checks.unique("buckets", buckets, key=lambda b: b.name)
        taken: dict[int, str] = {}
        for i, b in enumerate(buckets):
            if not (self.low <= b.low <= b.high <= self.high):
                checks.add(
                    f"buckets[{i}]",
                    f"{b.low}..{b.high} is not within the scale {self.low}..{self.high}",
                )
                continue
            for v in range(b.low, b.high + 1):
                if v in taken:
                    checks.add(f"buckets[{i}]", f"{v} is already in bucket {taken[v]!r}")
                    break
                taken[v] = b.name
        names = {b.name for b in buckets}
        if self.positive not in names:
            checks.add(
                "positive",
                f"{self.positive!r} is not one of the buckets ({', '.join(sorted(names))})",
            )
        if self.headline is Headline.NET and self.negative is None:
            checks.add("negative", "is missing (a net headline subtracts a negative bucket)")
        if self.negative is not None and self.negative not in names:
            checks.add(
                "negative",
                f"{self.negative!r} is not one of the buckets ({', '.join(sorted(names))})",
            )
        for name, levels in (("labels", self.labels), ("symbols", self.symbols)):
            for level in levels:
                if level not in range(self.low, self.high + 1):
                    checks.add(
                        f"{name}[{level!r}]",
                        f"{level!r} is not a level of the scale {self.low}..{self.high}",
                    )
        checks.raise_if_any(f"Metric {self.name!r}")

    @property
    def levels(self) -> range:
        """Every valid answer, lowest first."""
        return range(self.low, self.high + 1)

    @property
    def score_range(self) -> tuple[float, float]:
        """The lowest and highest headline score possible."""
        if self.headline is Headline.NET:
            return (-100.0, 100.0)
        if self.headline is Headline.TOP_BOX:
            return (0.0, 100.0)
        return (float(self.low), float(self.high))

    def bucket_of(self, value: int) -> Bucket | None:
        """Return the bucket *value* falls in, or ``None`` if it falls in none."""
        for b in self.buckets:
            if value in b:
                return b
        return None

    def bucket_table(self) -> tuple[int, ...]:
        """For each level, lowest first, the index of its bucket in :attr:`buckets` (-1 for none).

        Vectorised scorers index this table with ``answer - low``.
        """
        index = {b.name: i for i, b in enumerate(self.buckets)}
        return tuple(
            index[b.name] if (b := self.bucket_of(v)) is not None else -1 for v in self.levels
        )

    def label(self, level: int, locale: str = "en") -> str | None:
        """The label of *level* in *locale* (falling back to English), if it has one."""
        text = self.labels.get(level)
        return None if text is None else text.get(locale, fallback="en")

    def score(self, bucket_counts: Mapping[str, int], *, n: int, total: float) -> float | None:
        """The headline score from counts, or ``None`` when there are no answers.

        Args:
            bucket_counts: How many answers fell in each bucket.
            n: How many answers there are in all.
            total: The sum of the answers (used by a mean headline).
        """
        if n <= 0:
            return None
        match self.headline:
            case Headline.NET:
                assert self.negative is not None  # noqa: S101 - checked on construction
                net = bucket_counts.get(self.positive, 0) - bucket_counts.get(self.negative, 0)
                return 100.0 * net / n
            case Headline.TOP_BOX:
                return 100.0 * bucket_counts.get(self.positive, 0) / n
            case Headline.MEAN:
                return total / n


def _text(en: str, hi: str) -> LocalizedText:
    return LocalizedText({"en": en, "hi": hi})


def _builtin_metrics() -> tuple[Metric, ...]:
    higher = Direction.HIGHER_IS_BETTER
    five = {
        1: _text("Very unhappy", "बहुत नाखुश"),
        2: _text("Unhappy", "नाखुश"),
        3: _text("Neutral", "सामान्य"),
        4: _text("Happy", "खुश"),
        5: _text("Very happy", "बहुत खुश"),
    }
    return (
        Metric(
            name="nps",
            title="Net Promoter Score",
            low=0,
            high=10,
            direction=higher,
            buckets=[Bucket("detractor", 0, 6), Bucket("passive", 7, 8), Bucket("promoter", 9, 10)],
            headline=Headline.NET,
            positive="promoter",
            negative="detractor",
            labels={
                0: _text("Not at all likely", "बिल्कुल संभावना नहीं"),
                10: _text("Extremely likely", "बहुत अधिक संभावना"),
            },
        ),
        Metric(
            name="csat",
            title="Customer Satisfaction",
            low=1,
            high=5,
            direction=higher,
            buckets=[Bucket("bottom2", 1, 2), Bucket("neutral", 3, 3), Bucket("top2", 4, 5)],
            headline=Headline.TOP_BOX,
            positive="top2",
            negative="bottom2",
            labels={
                1: _text("Very dissatisfied", "बहुत असंतुष्ट"),
                2: _text("Dissatisfied", "असंतुष्ट"),
                3: _text("Neither satisfied nor dissatisfied", "न संतुष्ट न असंतुष्ट"),
                4: _text("Satisfied", "संतुष्ट"),
                5: _text("Very satisfied", "बहुत संतुष्ट"),
            },
            symbols={1: "😠", 2: "🙁", 3: "😐", 4: "🙂", 5: "😄"},
        ),
        Metric(
            name="ces",
            title="Customer Effort Score",
            low=1,
            high=7,
            direction=higher,
            buckets=[Bucket("disagree", 1, 3), Bucket("neutral", 4, 4), Bucket("agree", 5, 7)],
            headline=Headline.TOP_BOX,
            positive="agree",
            negative="disagree",
            labels={
                1: _text("Strongly disagree", "पूरी तरह असहमत"),
                2: _text("Disagree", "असहमत"),
                3: _text("Somewhat disagree", "कुछ हद तक असहमत"),
                4: _text("Neither agree nor disagree", "न सहमत न असहमत"),
                5: _text("Somewhat agree", "कुछ हद तक सहमत"),
                6: _text("Agree", "सहमत"),
                7: _text("Strongly agree", "पूरी तरह सहमत"),
            },
        ),
        Metric(
            name="rating",
            title="Rating (5 levels)",
            low=1,
            high=5,
            direction=higher,
            buckets=[Bucket("bottom2", 1, 2), Bucket("neutral", 3, 3), Bucket("top2", 4, 5)],
            headline=Headline.MEAN,
            positive="top2",
            negative="bottom2",
            labels=five,
            symbols={1: "😞", 2: "🙁", 3: "😐", 4: "🙂", 5: "😄"},
        ),
        Metric(
            name="rating3",
            title="Rating (3 levels)",
            low=1,
            high=3,
            direction=higher,
            buckets=[Bucket("unhappy", 1, 1), Bucket("neutral", 2, 2), Bucket("happy", 3, 3)],
            headline=Headline.MEAN,
            positive="happy",
            negative="unhappy",
            labels={1: five[2], 2: five[3], 3: five[4]},
            symbols={1: "🙁", 2: "😐", 3: "🙂"},
        ),
    )


class MetricRegistry:
    """Metrics by name. Registering under a taken name is refused unless you say ``replace``.

    Safe to use from several threads.

    Args:
        metrics: The metrics to start with.

    .. versionadded:: 0.1.0
    """

    def __init__(self, metrics: Iterable[Metric] = ()) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, Metric] = {}
        for metric in metrics:
            self.register(metric)

    def register(self, metric: Metric, *, replace: bool = False) -> Metric:
        """Add *metric*; with *replace*, take the place of one of the same name.

        Returns:
            The metric, so that this can be used as an expression.

        Raises:
            CxError: If the name is taken and *replace* is false.
        """
        if not isinstance(cast("object", metric), Metric):
            msg = f"{metric!r} is not a Metric"
            raise TypeError(msg)
        with self._lock:
            if not replace and metric.name in self._metrics:
                msg = (
                    f"metric {metric.name!r} is already registered; pass replace=True to replace it"
                )
                raise CxError(msg)
            self._metrics[metric.name] = metric
        return metric

    def unregister(self, name: str) -> None:
        """Remove the metric called *name*.

        Raises:
            UnknownMetricError: If there is none.
        """
        with self._lock:
            if name not in self._metrics:
                raise UnknownMetricError(name, self._metrics)
            del self._metrics[name]

    def get(self, name: str) -> Metric:
        """Return the metric called *name*.

        Raises:
            UnknownMetricError: If there is none; the message lists the known ones.
        """
        try:
            return self._metrics[name]
        except KeyError:
            raise UnknownMetricError(name, self._metrics) from None

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[Metric]:
        return iter(list(self._metrics.values()))

    def __len__(self) -> int:
        return len(self._metrics)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._metrics)

    def copy(self) -> MetricRegistry:
        """Return an independent registry with the same metrics."""
        return MetricRegistry(self)

    def __repr__(self) -> str:
        return f"MetricRegistry({', '.join(self._metrics)})"


def default_metrics() -> MetricRegistry:
    """Return a new registry holding only the built-in metrics.

    The built-ins are ``nps``, ``csat``, ``ces``, ``rating`` (5 levels) and
    ``rating3`` (3 levels).
    """
    return MetricRegistry(_builtin_metrics())


_REGISTRY = default_metrics()


def metric_registry() -> MetricRegistry:
    """Return the process-wide registry that cxcore reads by default."""
    return _REGISTRY


def get_metric(name: str) -> Metric:
    """Return the metric called *name* from the process-wide registry.

    Raises:
        UnknownMetricError: If there is none.
    """
    return _REGISTRY.get(name)


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Add *metric* to the process-wide registry (see :meth:`MetricRegistry.register`)."""
    return _REGISTRY.register(metric, replace=replace)
