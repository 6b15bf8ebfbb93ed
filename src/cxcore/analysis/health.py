"""Customer health: one composite per customer and per account, and how well it foretells churn.

Each customer's health mixes five parts, each scaled from 0 (bad) to 1 (good):

=============  =================================================================
part           from
=============  =================================================================
``score``      the customer's latest answer to the metric, on its scale, by its direction
``trend``      that answer minus the one before: 0.5 is no change, 0 and 1 a full-scale fall or rise
``cases``      open cases: ``1 / (1 + open cases)``
``recency``    days since the last contact (an answer or an interaction):
               ``0.5 ** (days / recency_half_life_days)``
``response``   the share of the customer's invitations that were answered
=============  =================================================================

The health is ``100 * sum(weight * part) / sum(weight)`` over the parts known
for that customer (a customer never invited has no ``response`` part, one who
answered once no ``trend``): unknown is left out, never guessed. The weights
are :data:`DEFAULT_HEALTH_WEIGHTS` unless you pass your own
:class:`HealthWeights`. An account's health is the mean of its customers'.
Given churn or renewal events, :func:`health_separation` reports the AUC of
the health for them, with a stratified bootstrap interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_count,
    fmt_interval,
    number_format,
)
from cxcore.errors import CxError
from cxcore.model.case import Case, CaseStatus
from cxcore.model.customer import Customer
from cxcore.model.interaction import Interaction
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.survey import Direction
from cxcore.scoring._optional import optional_module
from cxcore.scoring.stats import z_value

if TYPE_CHECKING:
    from cxcore.scoring.frame import ResponseFrame

__all__ = [
    "DEFAULT_HEALTH_WEIGHTS",
    "CustomerHealth",
    "HealthReport",
    "HealthSeparation",
    "HealthWeights",
    "customer_health",
    "health_separation",
]

PARTS = ("score", "trend", "cases", "recency", "response")
_CLOSED = frozenset({CaseStatus.RESOLVED, CaseStatus.CLOSED})
_ANSWERED = {Disposition.COMPLETED, Disposition.STARTED}


def _weight(value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0:
        msg = f"a health weight must be a finite number, 0 or more (got {value!r})"
        raise CxError(msg)
    return number


@attrs.frozen(kw_only=True)
class HealthWeights:
    """The weight of each part of the health, and how recency is scaled.

    Attributes:
        score: Weight of the latest answer.
        trend: Weight of its change from the answer before.
        cases: Weight of open cases.
        recency: Weight of the time since the last contact.
        response: Weight of the share of invitations answered.
        recency_half_life_days: Days without contact after which the recency part is 0.5.

    .. versionadded:: 0.1.0
    """

    score: float = attrs.field(default=0.40, converter=_weight)
    trend: float = attrs.field(default=0.15, converter=_weight)
    cases: float = attrs.field(default=0.20, converter=_weight)
    recency: float = attrs.field(default=0.15, converter=_weight)
    response: float = attrs.field(default=0.10, converter=_weight)
    recency_half_life_days: float = attrs.field(default=90.0, converter=float)

    def __attrs_post_init__(self) -> None:
        if sum(getattr(self, p) for p in PARTS) <= 0:
            msg = "at least one health weight must be above 0"
            raise CxError(msg)
        if not self.recency_half_life_days > 0:
            msg = f"recency_half_life_days must be above 0 (got {self.recency_half_life_days!r})"
            raise CxError(msg)


DEFAULT_HEALTH_WEIGHTS = HealthWeights()
"""Score 0.40, trend 0.15, open cases 0.20, recency 0.15, response 0.10; half-life 90 days."""


@attrs.frozen(kw_only=True)
class CustomerHealth:
    """One customer's (or account's) health and its parts.

    Attributes:
        id: The customer's (or account's) id.
        health: The composite, 0 to 100 (``None`` if no part is known).
        parts: Each known part, 0 to 1 (for an account, the mean over its customers).
        latest: The latest answer to the metric (customers only).
        previous: The answer before it.
        open_cases: Open cases.
        days_since_contact: Days since the last answer or interaction.
        invited: Invitations sent.
        answered: Invitations answered.
        customers: For an account, how many customers it has here (1 for a customer).

    .. versionadded:: 0.1.0
    """

    id: str
    health: float | None
    parts: Mapping[str, float]
    latest: float | None = None
    previous: float | None = None
    open_cases: int = 0
    days_since_contact: float | None = None
    invited: int = 0
    answered: int = 0
    customers: int = 1

    def __str__(self) -> str:
        value = "unknown" if self.health is None else f"{self.health:.1f}"
        parts = ", ".join(f"{k} {v:.2f}" for k, v in self.parts.items())
        return f"{self.id}: health {value} ({parts})"


@attrs.frozen(kw_only=True, repr=False)
class HealthReport(TableDisplay):
    """The health of every customer, and of every account.

    Attributes:
        metric: The metric whose answers give the score and trend parts.
        as_of: When recency is measured from.
        weights: The weights used.
        customers: One health per customer, by id.
        accounts: One health per account, by id (empty without customers' accounts).

    .. versionadded:: 0.1.0
    """

    metric: str
    as_of: datetime
    weights: HealthWeights
    customers: tuple[CustomerHealth, ...]
    accounts: tuple[CustomerHealth, ...] = ()

    def health(self, level: Literal["customer", "account"] = "customer") -> dict[str, float]:
        """Each customer's (or account's) health, leaving out those with none."""
        rows = self.customers if level == "customer" else self.accounts
        return {h.id: h.health for h in rows if h.health is not None}

    def to_pandas(self, level: Literal["customer", "account"] = "customer") -> Any:  # noqa: ANN401
        """One row per customer (or account): the health, then each part."""
        pd = optional_module("pandas", "exporting health to pandas")
        rows = self.customers if level == "customer" else self.accounts
        return pd.DataFrame(
            [
                {
                    "id": h.id,
                    "health": h.health,
                    **{f"part_{p}": h.parts.get(p) for p in PARTS},
                    "latest": h.latest,
                    "previous": h.previous,
                    "open_cases": h.open_cases,
                    "days_since_contact": h.days_since_contact,
                    "invited": h.invited,
                    "answered": h.answered,
                    "customers": h.customers,
                }
                for h in rows
            ]
        )

    def __repr__(self) -> str:
        return self.display_text()

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The customers to show, least healthy first: the health, then each part.

        Args:
            max_rows: Rows shown at most (the first and last halves), ``None`` for all.
        """
        part = number_format(2)
        ordered = sorted(self.customers, key=lambda h: (h.health is None, h.health or 0.0))
        w = self.weights
        weights = ", ".join(f"{p} {getattr(w, p):g}" for p in PARTS)
        return Table(
            title=(
                f"Customer health from {self.metric}, as of {self.as_of.date().isoformat()}: "
                f"{len(self.customers)} customers, {len(self.accounts)} accounts"
            ),
            columns=(
                Column("customer"),
                Column("health", format=number_format(1), align="right"),
                *(Column(p, format=part, align="right") for p in PARTS),
                Column("open cases", format=fmt_count, align="right"),
                Column("days since contact", format=number_format(0), align="right"),
            ),
            rows=[
                (
                    h.id,
                    h.health,
                    *(h.parts.get(p) for p in PARTS),
                    h.open_cases,
                    h.days_since_contact,
                )
                for h in ordered
            ],
            notes=(
                (
                    f"health: 100 x the weighted mean of the known parts (weights: {weights}; "
                    f"recency halves every {w.recency_half_life_days:g} days); least healthy first"
                ),
            ),
            max_rows=max_rows,
        )


def customer_health(  # noqa: C901, PLR0912, PLR0915 - one pass per input, in order
    frame: ResponseFrame,
    *,
    metric: str = "nps",
    customer: str = "customer_id",
    cases: Iterable[Case] = (),
    interactions: Iterable[Interaction] = (),
    invitations: Iterable[tuple[Invitation, Disposition | str]] = (),
    customers: Iterable[Customer] = (),
    as_of: datetime | None = None,
    weights: HealthWeights = DEFAULT_HEALTH_WEIGHTS,
) -> HealthReport:
    """Each customer's and account's health from their answers, cases, contacts and responses.

    Args:
        frame: The answers, with answer times and a *customer* dimension.
        metric: The metric whose latest answers give the score and trend.
        customer: The frame's dimension identifying the customer.
        cases: Cases; those not resolved or closed count as open, per ``customer_id``.
        interactions: Interactions, for the time of the last contact.
        invitations: Each invitation with its final disposition, for the
            response part (completed or started counts as answered).
        customers: Customers, to group them by ``account_id``.
        as_of: When recency is measured from (by default the latest answer or interaction).
        weights: The parts' weights.

    Returns:
        A report with every customer met in any input, and every account.

    Raises:
        CxError: If the frame lacks the metric, answer times or the customer dimension.

    .. versionadded:: 0.1.0
    """
    if customer not in frame.dimensions:
        msg = f"the frame has no dimension {customer!r} to tell customers apart"
        raise CxError(msg)
    if metric not in frame.metrics:
        msg = f"the frame has no answers to metric {metric!r} (it has: {', '.join(frame.metrics)})"
        raise CxError(msg)
    if frame.time is None:
        msg = "the frame has no answer times, so latest answers and trends are unknown"
        raise CxError(msg)
    definition = frame.metric(metric)
    span = float(definition.high - definition.low)
    rows = np.flatnonzero(frame.metric_codes == frame.metrics.index(metric))
    micros = frame.time.view(np.int64)[rows]
    timed = micros != np.iinfo(np.int64).min
    rows, micros = rows[timed], micros[timed]
    who = frame.dimensions[customer]
    codes = who.codes[rows]
    scores = frame.scores[rows]
    # Per customer, the last two answers: sort by (customer, time).
    order = np.lexsort((micros, codes))
    codes, micros, scores = codes[order], micros[order], scores[order]
    last_of = (
        np.flatnonzero(np.r_[codes[1:] != codes[:-1], True]) if codes.size else np.zeros(0, int)
    )
    latest: dict[str, tuple[float, float | None, datetime]] = {}
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for k in last_of.tolist():
        person = who.values[int(codes[k])]
        if person is None:
            continue
        before = float(scores[k - 1]) if k > 0 and codes[k - 1] == codes[k] else None
        latest[str(person)] = (
            float(scores[k]),
            before,
            epoch + timedelta(microseconds=int(micros[k])),
        )

    contact: dict[str, datetime] = {pid: at for pid, (_, _, at) in latest.items()}
    for interaction in interactions:
        pid = interaction.customer_id
        if pid is not None and (pid not in contact or interaction.occurred_at > contact[pid]):
            contact[pid] = interaction.occurred_at
    open_cases: dict[str, int] = defaultdict(int)
    for case in cases:
        if case.customer_id is not None:
            open_cases[case.customer_id] += int(case.status not in _CLOSED)
    invited: dict[str, int] = defaultdict(int)
    answered: dict[str, int] = defaultdict(int)
    last_disposition: dict[str, tuple[Invitation, Disposition]] = {}
    for invitation, disposition in invitations:
        try:
            last_disposition[invitation.id] = (invitation, Disposition(disposition))
        except ValueError:
            allowed = ", ".join(d.value for d in Disposition)
            msg = (
                f"invitation {invitation.id!r}: {disposition!r} is not a disposition "
                f"(expected one of {allowed})"
            )
            raise CxError(msg) from None
    for invitation, disposition in last_disposition.values():
        if invitation.customer_id is None:
            continue
        invited[invitation.customer_id] += 1
        answered[invitation.customer_id] += int(disposition in _ANSWERED)
    if as_of is None:
        if not contact:
            msg = "nothing has a time to measure recency from; pass as_of"
            raise CxError(msg)
        as_of = max(contact.values())
    elif as_of.tzinfo is None or as_of.utcoffset() is None:
        msg = f"as_of {as_of.isoformat()} has no time zone (expected an aware datetime)"
        raise CxError(msg)

    people = sorted(set(latest) | set(contact) | set(open_cases) | set(invited))
    results: list[CustomerHealth] = []
    for pid in people:
        parts: dict[str, float] = {}
        last = latest.get(pid)
        if last is not None:
            value, before, _ = last
            good = (value - definition.low) / span if span else 0.5
            if definition.direction is Direction.LOWER_IS_BETTER:
                good = 1.0 - good
            parts["score"] = good
            if before is not None:
                change = (value - before) / span if span else 0.0
                if definition.direction is Direction.LOWER_IS_BETTER:
                    change = -change
                parts["trend"] = 0.5 + change / 2.0
        parts["cases"] = 1.0 / (1.0 + open_cases.get(pid, 0))
        days: float | None = None
        if pid in contact:
            days = max(0.0, (as_of - contact[pid]) / timedelta(days=1))
            parts["recency"] = 0.5 ** (days / weights.recency_half_life_days)
        if invited.get(pid):
            parts["response"] = answered[pid] / invited[pid]
        results.append(
            CustomerHealth(
                id=pid,
                health=_composite(parts, weights),
                parts=parts,
                latest=None if last is None else last[0],
                previous=None if last is None else last[1],
                open_cases=open_cases.get(pid, 0),
                days_since_contact=days,
                invited=invited.get(pid, 0),
                answered=answered.get(pid, 0),
            )
        )

    account_of = {c.id: c.account_id for c in customers if c.account_id is not None}
    members: dict[str, list[CustomerHealth]] = defaultdict(list)
    for h in results:
        account = account_of.get(h.id)
        if account is not None:
            members[account].append(h)
    accounts = []
    for account in sorted(members):
        group = members[account]
        known = [h.health for h in group if h.health is not None]
        mean_parts = {
            p: float(np.mean([h.parts[p] for h in group if p in h.parts]))
            for p in PARTS
            if any(p in h.parts for h in group)
        }
        accounts.append(
            CustomerHealth(
                id=account,
                health=float(np.mean(known)) if known else None,
                parts=mean_parts,
                open_cases=sum(h.open_cases for h in group),
                days_since_contact=min(
                    (h.days_since_contact for h in group if h.days_since_contact is not None),
                    default=None,
                ),
                invited=sum(h.invited for h in group),
                answered=sum(h.answered for h in group),
                customers=len(group),
            )
        )
    return HealthReport(
        metric=metric,
        as_of=as_of,
        weights=weights,
        customers=tuple(results),
        accounts=tuple(accounts),
    )


def _composite(parts: Mapping[str, float], weights: HealthWeights) -> float | None:
    total = sum(getattr(weights, p) for p in parts)
    if total <= 0:
        return None
    weighted = sum(float(getattr(weights, p)) * v for p, v in parts.items())
    return 100.0 * weighted / float(total)


@attrs.frozen(kw_only=True)
class HealthSeparation(TableDisplay):
    """How well health separates customers with an event (churn) from the rest.

    Attributes:
        auc: The probability that a random customer with the good outcome has
            a higher health than one with the bad (ties count half): 0.5 is
            no better than chance, 1 a perfect separation.
        low: Lower end of its stratified bootstrap interval.
        high: Upper end.
        events: Customers with the event.
        others: Customers without it.
        unmatched: Event ids with no health in the report (left out).
        event: ``churn`` or ``renewal``.
        confidence: The interval's confidence level.
        resamples: Bootstrap resamples.

    .. versionadded:: 0.1.0
    """

    auc: float
    low: float
    high: float
    events: int
    others: int
    unmatched: int
    event: str
    confidence: float
    resamples: int

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The AUC, its interval and the group sizes, as one row."""
        good = "stayed" if self.event == "churn" else "renewed"
        return Table(
            title=f"How well health separates {self.event}",
            columns=(
                Column("AUC", format=number_format(3), align="right"),
                Column(
                    f"{100 * self.confidence:g}% interval",
                    format=lambda v: fmt_interval(v, 3),
                    align="right",
                ),
                Column(f"with {self.event}", format=fmt_count, align="right"),
                Column(f"without {self.event}", format=fmt_count, align="right"),
                Column("unmatched", format=fmt_count, align="right"),
            ),
            rows=[(self.auc, (self.low, self.high), self.events, self.others, self.unmatched)],
            notes=(
                (
                    f"AUC: the chance that a customer who {good} has the higher health "
                    f"(0.5 is chance); stratified bootstrap, {self.resamples:,} resamples"
                ),
            ),
            max_rows=max_rows,
        )


def _auc(good: np.ndarray[Any, Any], bad: np.ndarray[Any, Any]) -> float:
    """P(good > bad) + P(good == bad) / 2, from ranks (Mann-Whitney U over the product of sizes)."""
    both = np.concatenate([good, bad])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_values = both[order]
    # Average ranks over ties.
    starts = np.r_[0, np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1]
    ends = np.r_[starts[1:], len(both)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    u = ranks[: len(good)].sum() - len(good) * (len(good) + 1) / 2.0
    return float(u / (len(good) * len(bad)))


def health_separation(
    report: HealthReport,
    outcomes: Mapping[str, bool],
    *,
    event: Literal["churn", "renewal"] = "churn",
    level: Literal["customer", "account"] = "customer",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> HealthSeparation:
    """The AUC of health for churn (or renewal) events, with a stratified bootstrap interval.

    Args:
        report: From :func:`customer_health`.
        outcomes: Per customer (or account) id, whether the event happened: for
            ``churn``, ``True`` means the customer left; for ``renewal``, that
            they renewed. Ids missing from the report are counted as unmatched.
        event: ``churn`` (healthier customers should stay) or ``renewal``
            (healthier customers should renew).
        level: Judge customers or accounts.
        confidence: The interval's confidence level.
        resamples: Bootstrap resamples (each resamples the two groups apart).
        seed: The bootstrap's seed.

    Raises:
        CxError: If either group is empty, or *event* is unknown.

    .. versionadded:: 0.1.0
    """
    if event not in ("churn", "renewal"):
        msg = f"event {event!r} is not known (expected 'churn' or 'renewal')"
        raise CxError(msg)
    z_value(confidence)
    health = report.health(level)
    matched = {k: bool(v) for k, v in outcomes.items() if k in health}
    unmatched = len(outcomes) - len(matched)
    happened = np.array([health[k] for k, v in matched.items() if v], dtype=np.float64)
    not_happened = np.array([health[k] for k, v in matched.items() if not v], dtype=np.float64)
    if not happened.size or not not_happened.size:
        msg = (
            f"a separation needs customers with and without the {event}: "
            f"{happened.size} with, {not_happened.size} without ({unmatched} unmatched)"
        )
        raise CxError(msg)
    good, bad = (not_happened, happened) if event == "churn" else (happened, not_happened)
    auc = _auc(good, bad)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for r in range(resamples):
        draws[r] = _auc(
            good[rng.integers(0, good.size, good.size)], bad[rng.integers(0, bad.size, bad.size)]
        )
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha]) if resamples else (np.nan, np.nan)
    return HealthSeparation(
        auc=auc,
        low=float(low),
        high=float(high),
        events=int(happened.size),
        others=int(not_happened.size),
        unmatched=unmatched,
        event=event,
        confidence=confidence,
        resamples=resamples,
    )
