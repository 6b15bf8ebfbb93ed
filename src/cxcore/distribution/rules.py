"""Rule sets: trigger rules, caps, quiet hours and channel policy, as one value."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from cxcore.distribution._plan import RulePlan, WindowPlan, channel_steps
from cxcore.distribution.channels import ChannelPolicy
from cxcore.distribution.fatigue import FatiguePolicy
from cxcore.distribution.quiet_hours import QuietHours, for_country
from cxcore.distribution.triggers import TriggerRule
from cxcore.errors import DefinitionError, Problem
from cxcore.model._checks import Checks, as_tuple
from cxcore.model.customer import AddressKind

if TYPE_CHECKING:
    from cxcore.definitions import Definitions, Format

__all__ = ["RuleSet", "load_rules", "loads_rules"]


@attrs.frozen(kw_only=True)
class RuleSet:
    """Everything distribution decides with: rules, caps, quiet hours, channel policy.

    >>> rules = RuleSet(rules=[TriggerRule(id="r1", touchpoint="billing", survey="csat")])
    >>> [r.id for r in rules.matching("billing")]
    ['r1']

    Args:
        rules: The trigger rules.
        fatigue: The caps across all surveys and channels.
        quiet_hours: Sending windows per country (``"*"`` for the rest).
        channels: How channels are chosen.

    Raises:
        ValidationError: If rule ids or quiet-hour countries repeat.

    .. versionadded:: 0.1.0
    """

    rules: tuple[TriggerRule, ...] = attrs.field(default=(), converter=as_tuple)
    fatigue: FatiguePolicy = attrs.field(factory=FatiguePolicy)
    quiet_hours: tuple[QuietHours, ...] = attrs.field(default=(), converter=as_tuple)
    channels: ChannelPolicy = attrs.field(factory=ChannelPolicy)
    _by_touchpoint: dict[str, tuple[TriggerRule, ...]] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )
    _by_id: dict[str, TriggerRule] = attrs.field(init=False, eq=False, repr=False, hash=False)
    _windows: dict[str | None, QuietHours | None] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )
    _plans: dict[str, tuple[RulePlan, ...]] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )
    _window_plans: dict[str | None, WindowPlan | None] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        rules = checks.items("rules", self.rules, TriggerRule, "trigger rules")
        checks.unique("rules", rules, key=lambda r: r.id)
        checks.is_a("fatigue", self.fatigue, FatiguePolicy, "a fatigue policy")
        windows = checks.items("quiet_hours", self.quiet_hours, QuietHours, "quiet hours")
        checks.unique("quiet_hours", windows, key=lambda w: w.country)
        checks.is_a("channels", self.channels, ChannelPolicy, "a channel policy")
        checks.raise_if_any("RuleSet")
        index: dict[str, list[TriggerRule]] = {}
        for rule in rules:
            index.setdefault(rule.touchpoint, []).append(rule)
        # Highest priority first; the stable sort keeps definition order for ties.
        by_tp = {tp: tuple(sorted(rs, key=lambda r: -r.priority)) for tp, rs in index.items()}
        object.__setattr__(self, "_by_touchpoint", by_tp)
        object.__setattr__(self, "_by_id", {r.id: r for r in rules})
        object.__setattr__(self, "_windows", {})
        # Compiled once, for decide(): explain() reads the rules themselves.
        steps = channel_steps(self.channels)
        plans = {
            tp: tuple(RulePlan(r, self.channels, steps) for r in rs) for tp, rs in by_tp.items()
        }
        object.__setattr__(self, "_plans", plans)
        object.__setattr__(self, "_window_plans", {})

    def on_channels(self, addresses: Mapping[str, AddressKind]) -> RuleSet:
        """These rules, choosing only among the channels of *addresses* (name to address kind).

        A deployment's rules may name channels it does not run: an invitation
        on one of them would wait in the outbox for ever. The channel policy's
        lists keep only these channels, and their address kinds are those given
        (from the channels' capabilities).

        .. versionadded:: 0.1.0
        """
        policy = self.channels

        def kept(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(c for c in names if c in addresses)

        return attrs.evolve(
            self,
            channels=attrs.evolve(
                policy,
                fallback=kept(policy.fallback),
                anonymous=kept(policy.anonymous),
                opt_in_required=kept(policy.opt_in_required),
                addresses=dict(addresses),
            ),
        )

    def matching(self, touchpoint: str) -> tuple[TriggerRule, ...]:
        """The rules for *touchpoint*, highest priority first."""
        return self._by_touchpoint.get(touchpoint, ())

    def rule(self, rule_id: str) -> TriggerRule:
        """The rule called *rule_id*.

        Raises:
            KeyError: If there is none; the message lists the known ones.
        """
        try:
            return self._by_id[rule_id]
        except KeyError:
            known = ", ".join(self._by_id) or "none"
            raise KeyError(f"no trigger rule {rule_id!r}; defined: {known}") from None

    def window(self, country: str | None) -> QuietHours | None:
        """The sending window for a person in *country* (``None``: any time)."""
        try:
            return self._windows[country]
        except KeyError:
            found = self._windows[country] = for_country(self.quiet_hours, country)
            return found

    def _window_plan(self, country: str | None) -> WindowPlan | None:
        """The compiled :meth:`window`, for :func:`decide`."""
        try:
            return self._window_plans[country]
        except KeyError:
            window = self.window(country)
            found = None
            if window is not None:
                # One plan per window, whichever countries share it ("*").
                shared = (p for p in self._window_plans.values() if p and p.window is window)
                found = next(shared, None) or WindowPlan(window)
            self._window_plans[country] = found
            return found

    @property
    def longest_window_days(self) -> int:
        """The longest recontact window in use, in days, which the state must remember."""
        own = [r.recontact_days for r in self.rules if r.recontact_days is not None]
        caps = [self.fatigue.recontact_days, self.fatigue.account_days or 0, *own]
        return max(caps)

    def check(self, definitions: Definitions) -> list[Problem]:
        """Problems that need the definitions to see: unknown surveys, touchpoints, channels.

        Surveys are checked when *definitions* has any, touchpoints when it has
        journeys. Every channel a rule may use (its own, or else its
        touchpoint's) must have an address kind in ``channels.addresses``.

        Returns:
            Every problem, with its path (``rules[2].survey: ...``); empty when fine.
        """
        problems: list[Problem] = []
        surveys = {s.id for s in definitions.surveys}
        touchpoints: dict[str, tuple[str, ...]] = {
            tp.id: tp.channels for j in definitions.journeys for tp in j.touchpoints()
        }
        known_channels = self.channels.addresses
        for i, rule in enumerate(self.rules):
            if definitions.surveys and rule.survey not in surveys:
                problems.append(
                    Problem(
                        f"rules[{i}].survey",
                        f"{rule.survey!r} is not a defined survey "
                        f"(defined: {', '.join(sorted(surveys)) or 'none'})",
                    )
                )
            if definitions.journeys and rule.touchpoint not in touchpoints:
                problems.append(
                    Problem(
                        f"rules[{i}].touchpoint",
                        f"{rule.touchpoint!r} is not a touchpoint of any journey "
                        f"(defined: {', '.join(sorted(touchpoints)) or 'none'})",
                    )
                )
            for j, channel in enumerate(rule.channels):
                if channel not in known_channels:
                    problems.append(
                        Problem(
                            f"rules[{i}].channels[{j}]",
                            f"{channel!r} has no address kind in channels.addresses "
                            f"(known: {', '.join(sorted(known_channels))})",
                        )
                    )
            inherited = () if rule.channels else touchpoints.get(rule.touchpoint, ())
            problems.extend(
                Problem(
                    f"rules[{i}].touchpoint",
                    f"touchpoint {rule.touchpoint!r} lists channel {channel!r}, which has no "
                    "address kind in channels.addresses "
                    f"(known: {', '.join(sorted(known_channels))})",
                )
                for channel in inherited
                if channel not in known_channels
            )
        return problems

    def with_touchpoint_channels(self, definitions: Definitions) -> RuleSet:
        """Return a copy where rules without channels use their touchpoint's channels."""
        touchpoints: Mapping[str, tuple[str, ...]] = {
            tp.id: tp.channels for j in definitions.journeys for tp in j.touchpoints()
        }
        rules = [
            r
            if r.channels or not touchpoints.get(r.touchpoint)
            else attrs.evolve(r, channels=touchpoints[r.touchpoint])
            for r in self.rules
        ]
        return attrs.evolve(self, rules=rules)


def loads_rules(
    text: str,
    *,
    format: Format = "toml",  # noqa: A002 - the name every loader in cxcore uses
    source: str = "<string>",
    definitions: Definitions | None = None,
) -> RuleSet:
    """Parse a rule set from TOML or JSON *text*; see :func:`load_rules`.

    .. versionadded:: 0.1.0
    """
    from cxcore.definitions import loads  # noqa: PLC0415 - the converter is built on first use

    rules = loads(text, RuleSet, format=format, source=source)
    return rules if definitions is None else _checked(rules, definitions, source)


def load_rules(path: str | Path, *, definitions: Definitions | None = None) -> RuleSet:
    """Load a rule set from a ``.toml`` or ``.json`` file.

    Args:
        path: The file; the format follows the suffix.
        definitions: If given, surveys and touchpoints the rules name must
            exist in them, and rules without channels take their touchpoint's.

    Raises:
        DefinitionError: Listing every problem, each with its path
            (``rules[1].sampling.rate: 1.5 is not a share from 0 to 1``).
        OSError: If the file cannot be read.

    .. versionadded:: 0.1.0
    """
    from cxcore.definitions import _read_document, structure  # noqa: PLC0415 - built on first use

    path = Path(path)
    rules = structure(_read_document(path), RuleSet, source=str(path))
    return rules if definitions is None else _checked(rules, definitions, str(path))


def _checked(rules: RuleSet, definitions: Definitions, source: str) -> RuleSet:
    """*rules*, checked against *definitions*, with touchpoints' channels filled in."""
    problems = rules.check(definitions)
    if problems:
        raise DefinitionError(source, problems)
    return rules.with_touchpoint_channels(definitions)
