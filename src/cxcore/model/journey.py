"""Customer journeys: ordered stages, each with the touchpoints where customers make contact."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from cxcore.model._checks import Checks, as_tuple

__all__ = ["Journey", "Stage", "Touchpoint"]


@attrs.frozen
class Touchpoint:
    """One place of contact on the journey: the billing counter, the app, a support call.

    Args:
        id: A stable id, unique within the journey (``"billing_counter"``).
        name: What CX people call it.
        owner: Who is most empowered to act on its feedback: a team or role
            (``"store_manager"``, ``"support_lead"``). Closed-loop cases are
            routed here.
        channels: The survey channels that may be used after an interaction
            here (``("sms", "email")``), in order of preference. Empty means
            "any channel".
        description: Optional notes for the people who maintain the journey.

    .. versionadded:: 0.1.0
    """

    id: str
    name: str
    owner: str
    channels: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        checks.text("name", self.name, single_line=True)
        checks.identifier("owner", self.owner)
        channels = checks.items("channels", self.channels, str, "channel names")
        for i, channel in enumerate(channels):
            checks.identifier(f"channels[{i}]", channel)
        checks.unique("channels", channels, key=lambda c: c)
        if self.description is not None:
            checks.is_a("description", self.description, str, "a string")
        checks.raise_if_any(f"Touchpoint {self.id!r}")


@attrs.frozen
class Stage:
    """One stage of a journey (awareness, purchase, delivery, support, ...).

    Args:
        id: A stable id, unique within the journey.
        name: What CX people call it.
        touchpoints: The touchpoints of this stage.

    .. versionadded:: 0.1.0
    """

    id: str
    name: str
    touchpoints: tuple[Touchpoint, ...] = attrs.field(default=(), converter=as_tuple)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        checks.text("name", self.name, single_line=True)
        checks.items("touchpoints", self.touchpoints, Touchpoint, "touchpoints")
        checks.raise_if_any(f"Stage {self.id!r}")


@attrs.frozen
class Journey:
    """The stages a customer passes through, in order.

    >>> journey = Journey(
    ...     id="retail",
    ...     name="Retail",
    ...     stages=[
    ...         Stage("purchase", "Purchase", [Touchpoint("billing", "Billing", "store_manager")])
    ...     ],
    ... )
    >>> journey.touchpoint("billing").owner, journey.stage_of("billing").id
    ('store_manager', 'purchase')

    Args:
        id: A stable id (``"retail"``).
        name: What CX people call it.
        stages: The stages, in the order customers pass through them.
        description: Optional notes.

    Raises:
        ValidationError: If ids repeat anywhere in the journey, or a field is malformed.

    .. versionadded:: 0.1.0
    """

    id: str
    name: str
    stages: tuple[Stage, ...] = attrs.field(converter=as_tuple)
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        checks.text("name", self.name, single_line=True)
        stages = checks.items("stages", self.stages, Stage, "stages")
        if not self.stages:
            checks.add("stages", "is empty (expected at least one stage)")
        checks.unique("stages", stages, key=lambda s: s.id)
        seen: dict[str, str] = {}
        for i, stage in enumerate(stages):
            for j, tp in enumerate(stage.touchpoints):
                where = f"stages[{i}].touchpoints[{j}]"
                if tp.id in seen:
                    checks.add(f"{where}.id", f"{tp.id!r} is already used by {seen[tp.id]}")
                else:
                    seen[tp.id] = where
        checks.raise_if_any(f"Journey {self.id!r}")

    def touchpoints(self) -> Iterator[Touchpoint]:
        """Yield every touchpoint, stage by stage, in journey order."""
        for stage in self.stages:
            yield from stage.touchpoints

    def touchpoint(self, touchpoint_id: str) -> Touchpoint:
        """Return the touchpoint with *touchpoint_id*.

        Raises:
            KeyError: If the journey has no such touchpoint; the message lists
                the ones it has.
        """
        for tp in self.touchpoints():
            if tp.id == touchpoint_id:
                return tp
        known = ", ".join(tp.id for tp in self.touchpoints())
        msg = f"journey {self.id!r} has no touchpoint {touchpoint_id!r}; it has: {known}"
        raise KeyError(msg)

    def stage_of(self, touchpoint_id: str) -> Stage:
        """Return the stage that holds *touchpoint_id*.

        Raises:
            KeyError: If the journey has no such touchpoint.
        """
        for stage in self.stages:
            if any(tp.id == touchpoint_id for tp in stage.touchpoints):
                return stage
        self.touchpoint(touchpoint_id)  # raises the KeyError that lists the known ones
        raise AssertionError  # pragma: no cover
