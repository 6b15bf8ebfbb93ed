"""Interactions: one customer (or anonymous visitor) touching one touchpoint at one time."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeAlias

import attrs

from cxcore.model._checks import Checks, not_utf8
from cxcore.model.frozendict import FrozenDict

__all__ = ["DIMENSIONS", "Interaction", "Scalar", "frozen_scalars"]

Scalar: TypeAlias = str | int | float | bool
"""A value of a free attribute: text, a number or a flag."""

DIMENSIONS: tuple[str, ...] = (
    "touchpoint",
    "journey",
    "store",
    "agent",
    "product",
    "order",
    "channel",
)
"""The named dimensions an interaction carries, in the order reports show them."""


def frozen_scalars(value: Mapping[str, Any] | None) -> FrozenDict[str, Any]:
    """Attrs converter: a mapping of attributes, frozen (``None`` means none)."""
    if value is None:
        return FrozenDict()
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict(value)
    return value  # type: ignore[unreachable]  # reported by check_scalars


def check_scalars(
    checks: Checks, path: str, value: object, *, reserved: tuple[str, ...] = ()
) -> None:
    """Check a mapping of attribute names to scalars, none of them a *reserved* name."""
    if not checks.is_a(path, value, Mapping, "a mapping of names to values"):
        return
    assert isinstance(value, Mapping)  # noqa: S101 - for the type checker
    for key, item in value.items():
        if not checks.identifier(f"{path}[{key!r}]", key):
            continue
        if key in reserved:
            checks.add(f"{path}.{key}", f"{key!r} is a dimension; set the {key} field instead")
        if not isinstance(item, str | int | float) or (
            isinstance(item, float) and math.isnan(item)
        ):
            checks.add(f"{path}.{key}", f"{item!r} is not text, a number or true/false")
        # JSON has no infinities and PostgreSQL's JSON no NUL: refused everywhere,
        # so that every store keeps what any store keeps.
        elif isinstance(item, float) and math.isinf(item):
            checks.add(f"{path}.{key}", f"{item!r} is not a finite number")
        elif isinstance(item, str) and "\x00" in item:
            checks.add(f"{path}.{key}", f"{item!r} contains a NUL character (\\x00)")
        elif isinstance(item, str) and (problem := not_utf8(item)) is not None:
            checks.add(f"{path}.{key}", problem)


@attrs.frozen(kw_only=True)
class Interaction:
    """One customer, or anonymous visitor, touching one touchpoint at one time.

    >>> from datetime import datetime, timezone
    >>> visit = Interaction(id="I-1", touchpoint="billing_counter", customer_id="C-1001",
    ...                     occurred_at=datetime(2026, 11, 20, 12, 30, tzinfo=timezone.utc),
    ...                     store="BLR-01", agent="A-17", attributes={"amount": 1499.0})
    >>> dict(visit.context())
    {'touchpoint': 'billing_counter', 'store': 'BLR-01', 'agent': 'A-17', 'amount': 1499.0}

    Args:
        id: The interaction's id in your system.
        touchpoint: The touchpoint's id.
        occurred_at: When it happened, with its time zone.
        customer_id: Who it was; ``None`` for an anonymous visitor.
        journey: The journey's id, if you have several.
        store: Store, branch or site.
        agent: The employee who served the customer.
        product: Product or service line.
        order: Order, ticket or case number.
        channel: The channel of the interaction itself (``"web"``, ``"call"``, ``"store"``).
        attributes: Free transactional variables (amount, payment mode, city...).

    .. versionadded:: 0.1.0
    """

    id: str
    touchpoint: str
    occurred_at: datetime
    customer_id: str | None = None
    journey: str | None = None
    store: str | None = None
    agent: str | None = None
    product: str | None = None
    order: str | None = None
    channel: str | None = None
    attributes: FrozenDict[str, Scalar] = attrs.field(factory=FrozenDict, converter=frozen_scalars)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.text("id", self.id, single_line=True)
        checks.identifier("touchpoint", self.touchpoint)
        checks.aware("occurred_at", self.occurred_at)
        for name in ("customer_id", "store", "agent", "product", "order"):
            value = getattr(self, name)
            if value is not None:
                checks.text(name, value, single_line=True)
        for name in ("journey", "channel"):
            value = getattr(self, name)
            if value is not None:
                checks.identifier(name, value)
        check_scalars(checks, "attributes", self.attributes, reserved=DIMENSIONS)
        checks.raise_if_any(f"Interaction {self.id!r}")

    @property
    def anonymous(self) -> bool:
        """Whether nobody is known to have been there (a walk-in, a kiosk)."""
        return self.customer_id is None

    def context(self) -> FrozenDict[str, Scalar]:
        """The dimensions that are set, then the free attributes: what a response freezes."""
        data: dict[str, Scalar] = {
            name: value for name in DIMENSIONS if (value := getattr(self, name)) is not None
        }
        data.update(self.attributes)
        return FrozenDict(data)
