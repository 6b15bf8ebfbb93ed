"""Trigger rules: on an interaction at a touchpoint, which survey to send, when, how often."""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import attrs

from cxcore.model._checks import Checks, as_tuple
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import DIMENSIONS, Interaction, Scalar

__all__ = ["Sampling", "TriggerRule"]

_FILTERABLE = tuple(d for d in DIMENSIONS if d != "touchpoint")
_DIMENSION_SET = frozenset(_FILTERABLE)


def _where(value: Mapping[str, Any] | None) -> FrozenDict[str, tuple[Scalar, ...]]:
    """Attrs converter: a filter of names to allowed values; one value means a list of one."""
    if value is None:
        return FrozenDict()
    if isinstance(value, Mapping):
        return FrozenDict(
            {
                k: tuple(v) if isinstance(v, list | tuple | set | frozenset) else (v,)
                for k, v in value.items()
            }
        )
    return value  # type: ignore[unreachable]  # reported by the checks


def _rate(value: float) -> float:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _non_negative(checks: Checks, path: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if checks.is_a(path, value, int, "a whole number") and value < 0:  # type: ignore[operator]
        checks.add(path, f"{value} is not 0 or more")


def _positive(checks: Checks, path: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if checks.is_a(path, value, int, "a whole number") and value < 1:  # type: ignore[operator]
        checks.add(path, f"{value} is not 1 or more")


@attrs.frozen(kw_only=True)
class Sampling:
    """Which share of matching interactions is surveyed, optionally per stratum.

    Sampling is deterministic: whether an interaction is sampled depends only on
    the rule's id and the interaction's id, so deciding twice gives the same answer.
    With *by* set, the first *min_per_day* invitations of each stratum (each store,
    each agent) per day are always taken, and the rate applies after that, so small
    stores still get enough responses: an interaction the draw refuses is taken
    while its stratum has fewer than *min_per_day* invitations that day. The store
    counts each stratum's invitations, so the minimum holds across processes (see
    :class:`~cxcore.InviteGuard`).

    >>> Sampling(rate=0.1, by="store", min_per_day=20)
    Sampling(rate=0.1, by='store', min_per_day=20)

    Args:
        rate: The share of interactions surveyed, from 0 to 1.
        by: A dimension (``"store"``, ``"agent"``...) or attribute to stratify by.
        min_per_day: Invitations per stratum and day taken whatever the rate.

    .. versionadded:: 0.1.0
    """

    rate: float = attrs.field(default=1.0, converter=_rate)
    by: str | None = None
    min_per_day: int = 0

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        if checks.is_a("rate", self.rate, float, "a number") and not (
            0.0 <= self.rate <= 1.0 and not math.isnan(self.rate)
        ):
            checks.add("rate", f"{self.rate!r} is not a share from 0 to 1")
        if self.by is not None and checks.identifier("by", self.by) and self.by == "touchpoint":
            checks.add("by", "'touchpoint' is fixed by the rule (expected e.g. 'store' or 'agent')")
        _non_negative(checks, "min_per_day", self.min_per_day)
        if self.min_per_day and self.by is None:
            checks.add("min_per_day", f"{self.min_per_day} needs a stratum: set 'by' as well")
        checks.raise_if_any("Sampling")

    def draw(self, rule_id: str, interaction_id: str) -> float:
        """A uniform number in [0, 1) fixed by the rule and the interaction."""
        return zlib.crc32(f"{rule_id}\x00{interaction_id}".encode()) / 4294967296.0


@attrs.frozen(kw_only=True)
class TriggerRule:
    """On an interaction at *touchpoint*, send *survey*: kept as data, in Python or files.

    >>> rule = TriggerRule(id="billing_csat", touchpoint="billing_counter", survey="csat_visit",
    ...                    where={"store": ["BLR-01", "DEL-02"]}, delay_minutes=15)
    >>> rule.where
    FrozenDict({'store': ('BLR-01', 'DEL-02')})

    Args:
        id: A stable id, unique in its rule set; explanations name it.
        touchpoint: The touchpoint whose interactions trigger it.
        survey: The survey to send.
        where: Only interactions whose dimension or attribute is one of the
            listed values (``{"store": ["BLR-01"], "vip": [true]}``).
        delay_minutes: Send this long after the interaction (0: at once).
        sampling: Which share of interactions to survey.
        priority: When several rules compete for one person, the highest
            priority wins; ties go to the rule defined first.
        recontact_days: This survey's own window per person, on top of the
            global one (a quarterly NPS: 90).
        channels: The channels to use, best first; empty means the
            touchpoint's channels, then the fallback order.
        reminders_after_hours: Remind non-responders this many hours after the
            first send, once per entry (``[48]``: one reminder after two days).
        max_wait_days: When a cap blocks the person, book the invitation at
            the first moment they become eligible, if that is within this many
            days; ``None`` skips instead. This is how a quarterly NPS is never
            starved by a frequent transactional survey.
        expires_days: Answers are accepted this many days after the send.

    .. versionadded:: 0.1.0
    """

    id: str
    touchpoint: str
    survey: str
    where: FrozenDict[str, tuple[Scalar, ...]] = attrs.field(factory=FrozenDict, converter=_where)
    delay_minutes: int = 0
    sampling: Sampling = attrs.field(factory=Sampling)
    priority: int = 0
    recontact_days: int | None = None
    channels: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    reminders_after_hours: tuple[int, ...] = attrs.field(default=(), converter=as_tuple)
    max_wait_days: int | None = None
    expires_days: int = 7

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        checks.identifier("touchpoint", self.touchpoint)
        checks.identifier("survey", self.survey)
        if checks.is_a("where", self.where, Mapping, "a table of names to allowed values"):
            for key, allowed in self.where.items():
                path = f"where.{key}"
                if not checks.identifier(path, key):
                    continue
                if key == "touchpoint":
                    checks.add(path, "is fixed by the rule's touchpoint field")
                if not allowed:
                    checks.add(path, "is an empty list (expected at least one value)")
                values: tuple[object, ...] = allowed
                for i, v in enumerate(values):
                    if not isinstance(v, str | int | float):
                        checks.add(f"{path}[{i}]", f"{v!r} is not text, a number or true/false")
        _non_negative(checks, "delay_minutes", self.delay_minutes)
        checks.is_a("sampling", self.sampling, Sampling, "a sampling")
        checks.is_a("priority", self.priority, int, "a whole number")
        _positive(checks, "recontact_days", self.recontact_days, optional=True)
        for i, channel in enumerate(checks.items("channels", self.channels, str, "channel names")):
            checks.identifier(f"channels[{i}]", channel)
        checks.unique("channels", self.channels, key=lambda c: c)
        hours = checks.items("reminders_after_hours", self.reminders_after_hours, int, "hours")
        for i, h in enumerate(hours):
            if h < 1:
                checks.add(f"reminders_after_hours[{i}]", f"{h} is not 1 or more")
            elif i and h <= hours[i - 1]:
                checks.add(
                    f"reminders_after_hours[{i}]",
                    f"{h} is not after the previous reminder ({hours[i - 1]} hours)",
                )
        _non_negative(checks, "max_wait_days", self.max_wait_days, optional=True)
        _positive(checks, "expires_days", self.expires_days)
        checks.raise_if_any(f"TriggerRule {self.id!r}")

    def mismatch(self, interaction: Interaction) -> tuple[str, Scalar | None] | None:
        """Return the first filter *interaction* fails, as (name, its value), or ``None``."""
        for key, allowed in self.where.items():
            value: Scalar | None = (
                getattr(interaction, key)
                if key in _DIMENSION_SET
                else interaction.attributes.get(key)
            )
            if value is None or value not in allowed:
                return key, value
        return None

    def stratum(self, interaction: Interaction) -> str | None:
        """The value of the sampling dimension for *interaction* (``None`` if unstratified)."""
        by = self.sampling.by
        if by is None:
            return None
        value = getattr(interaction, by) if by in _DIMENSION_SET else interaction.attributes.get(by)
        return "" if value is None else str(value)
