"""A rule set compiled once, for decisions without a trace.

:func:`~cxcore.distribution.decide` runs on the plans here; :func:`~cxcore.distribution.explain`
runs the step-by-step reference path over the rules themselves. Both must make the same
decision: the plans only move work from every call to the rule set's construction
(filters become sets, the sampling hash starts from the rule's own prefix, channel orders
are worked out once per preference list), and tests compare the two paths decision by
decision.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cxcore.distribution.channels import ChannelPolicy, _order
from cxcore.distribution.quiet_hours import QuietHours, zone
from cxcore.distribution.triggers import TriggerRule
from cxcore.model.customer import AddressKind
from cxcore.model.interaction import DIMENSIONS, Interaction, Scalar

__all__ = ["ChannelStep", "RulePlan", "WindowPlan"]

_DIMENSION_SET = frozenset(d for d in DIMENSIONS if d != "touchpoint")
_MAX_CACHED = 4096
"""Entries a per-plan cache keeps before it starts afresh (preference lists, days)."""


def _allowed(values: tuple[Scalar, ...]) -> frozenset[Scalar] | tuple[Scalar, ...]:
    """The allowed values as a set when every one hashes (membership is the same test)."""
    if all(isinstance(v, Hashable) for v in values):
        try:
            return frozenset(values)
        except TypeError:  # pragma: no cover - a hashable type whose hash fails
            return values
    return values  # pragma: no cover - the rule's checks allow only scalars


class ChannelStep:
    """One channel a plan may try: its name, address kind and whether it needs an opt-in."""

    __slots__ = ("channel", "kind", "opt_in_required")

    def __init__(self, channel: str, kind: AddressKind | None, *, opt_in_required: bool) -> None:
        self.channel = channel
        self.kind = kind
        self.opt_in_required = opt_in_required

    def __repr__(self) -> str:
        return f"ChannelStep({self.channel!r}, {self.kind!r})"


class RulePlan:
    """One trigger rule, compiled: what :func:`decide` reads for it on every interaction."""

    __slots__ = (
        "_orders",
        "_policy",
        "_steps",
        "anonymous_channel",
        "by",
        "by_dimension",
        "crc_seed",
        "delay_seconds",
        "expires",
        "filters",
        "id",
        "id_suffix",
        "listed",
        "max_wait_seconds",
        "min_per_day",
        "rate",
        "recontact_days",
        "remindable",
        "rule",
        "survey",
    )

    def __init__(
        self, rule: TriggerRule, policy: ChannelPolicy, steps: dict[str, ChannelStep]
    ) -> None:
        self.rule = rule
        self.id = rule.id
        self.survey = rule.survey
        self.filters: tuple[tuple[str, bool, frozenset[Scalar] | tuple[Scalar, ...]], ...] = tuple(
            (key, key in _DIMENSION_SET, _allowed(allowed)) for key, allowed in rule.where.items()
        )
        sampling = rule.sampling
        self.rate = sampling.rate
        self.min_per_day = sampling.min_per_day
        self.by = sampling.by
        self.by_dimension = sampling.by in _DIMENSION_SET
        # crc32(prefix + rest) == crc32(rest, crc32(prefix)): the draw of Sampling.draw.
        self.crc_seed = zlib.crc32(f"{rule.id}\x00".encode())
        # invitation_id() hashes f"{interaction_id}\x00{rule_id}": this is its end.
        self.id_suffix = f"\x00{rule.id}".encode()
        self.delay_seconds = rule.delay_minutes * 60
        self.recontact_days = rule.recontact_days
        self.max_wait_seconds: int | None = (
            None if rule.max_wait_days is None else rule.max_wait_days * 86_400
        )
        self.expires = timedelta(days=rule.expires_days)
        self.remindable = bool(rule.reminders_after_hours)
        self.listed = rule.channels
        anonymous = [c for c in (rule.channels or policy.anonymous) if c in policy.anonymous]
        self.anonymous_channel: str | None = anonymous[0] if anonymous else None
        self._policy = policy
        self._steps = steps
        self._orders: dict[tuple[str, ...], tuple[ChannelStep, ...]] = {}

    def __repr__(self) -> str:
        return f"RulePlan({self.id!r})"

    def accepts(self, interaction: Interaction) -> bool:
        """Whether *interaction* passes every filter (:meth:`TriggerRule.mismatch` is ``None``)."""
        attributes = interaction.attributes
        for key, dimension, allowed in self.filters:
            value = getattr(interaction, key) if dimension else attributes.get(key)
            if value is None or value not in allowed:
                return False
        return True

    def stratum(self, interaction: Interaction) -> str | None:
        """:meth:`TriggerRule.stratum`, without looking the sampling up again."""
        by = self.by
        if by is None:
            return None
        value = getattr(interaction, by) if self.by_dimension else interaction.attributes.get(by)
        return "" if value is None else str(value)

    def order(self, preferred: tuple[str, ...]) -> tuple[ChannelStep, ...]:
        """The channels to try, in order, for a person who prefers *preferred*."""
        try:
            return self._orders[preferred]
        except KeyError:
            pass
        listed = self.listed
        if listed:
            names = _order(tuple(c for c in preferred if c in listed), listed, ())
        else:
            names = _order(preferred, self._policy.fallback, ())
        steps = self._steps
        opt_in = self._policy.opt_in_required
        found = tuple(
            steps.get(c) or ChannelStep(c, None, opt_in_required=c in opt_in) for c in names
        )
        if len(self._orders) >= _MAX_CACHED:
            self._orders.clear()
        self._orders[preferred] = found
        return found


def channel_steps(policy: ChannelPolicy) -> dict[str, ChannelStep]:
    """A step for every channel with a known address kind."""
    return {
        channel: ChannelStep(channel, kind, opt_in_required=channel in policy.opt_in_required)
        for channel, kind in policy.addresses.items()
    }


class WindowPlan:
    """A quiet-hours window with its local bounds at hand, and its openings remembered.

    The openings of a local day depend only on the zone, the day and the window's
    start, so they are worked out once per day and zone (as :func:`next_allowed` does).
    """

    __slots__ = (
        "_openings",
        "deferred_by",
        "end",
        "end_second",
        "exempt_channels",
        "start",
        "start_second",
        "window",
        "wraps",
    )

    def __init__(self, window: QuietHours) -> None:
        self.window = window
        self.start: time = window._start  # noqa: SLF001 - our own class
        self.end: time = window._end  # noqa: SLF001 - our own class
        # The bounds as seconds of the local day, for decide(): whole minutes, so a local
        # time compares with them as its whole seconds do.
        self.start_second = self.start.hour * 3600 + self.start.minute * 60
        self.end_second = self.end.hour * 3600 + self.end.minute * 60
        self.wraps = not self.start < self.end
        self.exempt_channels = frozenset(window.exempt_channels)
        self.deferred_by = f"quiet hours {window.describe()}"
        self._openings: dict[tuple[str, int], tuple[float, ...]] = {}

    def allows(self, local: time) -> bool:
        """:meth:`QuietHours.allows`."""
        if self.wraps:
            return local >= self.start or local < self.end
        return self.start <= local < self.end

    def opens(self, local: datetime, due: float, tz_name: str) -> float:
        """When the window next opens at or after *due* (outside it): :func:`next_allowed`.

        *local* is ``datetime.fromtimestamp(due, zone(tz_name))``. The openings are
        compared as timestamps; one within a microsecond of *due* is compared as
        :func:`next_allowed` compares it, with *due* rounded to the microsecond.
        """
        key = (tz_name, local.toordinal())
        try:
            candidates = self._openings[key]
        except KeyError:
            tz: ZoneInfo = zone(tz_name)
            day = local.date()
            candidates = tuple(
                datetime.combine(day + timedelta(days=step), self.start, tzinfo=tz).timestamp()
                for step in range(3)
            )
            if len(self._openings) >= _MAX_CACHED:
                self._openings.clear()
            self._openings[key] = candidates
        for opens in candidates:
            if opens - due > 1e-6 or (
                opens - due > -1e-6 and datetime.fromtimestamp(opens, UTC) >= local
            ):
                return opens
        msg = f"no sending window after {local.isoformat()} in {tz_name}"  # pragma: no cover
        raise AssertionError(msg)  # pragma: no cover
