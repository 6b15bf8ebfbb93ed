"""What an SMS is expected to cost: its segments times the price per segment to its destination.

Providers bill an SMS per part (segment, see
:mod:`cxcore_channels.sms.segments`), at a price that depends on the country
(more exactly, the number's prefix) it goes to. A :class:`PriceTable` holds
those prices; the longest prefix that matches a number gives its price.

>>> table = PriceTable("USD", {"+1": "0.0083", "+91": "0.0800", "+9180": "0.0750"})
>>> str(table.estimate("+919876543210", "Rate your visit: https://bz.in/s/x"))
'0.0800 USD'
>>> cost = table.estimate("+918012345678", "€" * 81)
>>> cost.amount, cost.detail
(Decimal('0.1500'), '2 segments of GSM-7 x 0.0750 USD (+9180)')

The figures you bill by are your provider's, for your account: configure
them. :data:`EXAMPLE_PRICES` is only an example of the shape.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import attrs

from cxcore import EstimatedCost, FrozenDict, Problem, ValidationError
from cxcore_channels.sms.segments import Segments, count_segments

__all__ = ["EXAMPLE_PRICES", "PriceTable"]

_PREFIX = re.compile(r"\+[0-9]{1,15}")


def _price(value: object) -> object:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def _prices(value: Mapping[str, Decimal | str | int]) -> FrozenDict[str, Decimal]:
    return FrozenDict({k: _price(v) for k, v in value.items()})


def _optional_price(value: Decimal | str | int | None) -> Decimal | None:
    return None if value is None else _price(value)  # type: ignore[return-value]  # checked after


def _is_price(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value >= 0


@attrs.frozen
class PriceTable:
    """Prices per SMS segment, by the prefix of the destination number.

    Args:
        currency: The ISO 4217 code of every price (``"USD"``, ``"INR"``).
        per_segment: Price per segment by number prefix (``{"+91": "0.08"}``);
            the longest prefix that matches wins, so ``"+9180"`` can differ from
            ``"+91"``. Prices are decimals (strings, integers or
            :class:`~decimal.Decimal`; floats are refused: they cannot hold
            prices exactly).
        default: The price for numbers no prefix matches; ``None`` leaves
            their cost unknown.
        source: Where the figures come from, for whoever reads a report.

    Raises:
        ValidationError: Listing every bad currency, prefix and price.

    .. versionadded:: 0.1.0
    """

    currency: str
    per_segment: FrozenDict[str, Decimal] = attrs.field(converter=_prices)
    default: Decimal | None = attrs.field(default=None, converter=_optional_price)
    source: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        currency: object = self.currency
        if not (
            isinstance(currency, str)
            and len(currency) == 3
            and currency.isascii()
            and currency.isalpha()
            and currency.isupper()
        ):
            problems.append(Problem("currency", f"{currency!r} is not an ISO 4217 code like 'USD'"))
        prices: list[tuple[object, object]] = list(self.per_segment.items())  # may be anything
        for prefix, price in prices:
            if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
                problems.append(
                    Problem(f"per_segment[{prefix!r}]", "is not a number prefix like '+91'")
                )
            if not _is_price(price):
                problems.append(
                    Problem(
                        f"per_segment[{prefix!r}]",
                        f"{price!r} is not a price (expected a decimal of 0 or more, like '0.08')",
                    )
                )
        if self.default is not None and not _is_price(self.default):
            what = "is not a price (expected a decimal of 0 or more, like '0.08')"
            problems.append(Problem("default", f"{self.default!r} {what}"))
        if problems:
            raise ValidationError("PriceTable", problems)

    def price(self, to: str) -> tuple[str, Decimal] | None:
        """The price per segment to *to*, with the prefix that set it (``"default"``), or ``None``.

        *to* is an E.164 number; a ``whatsapp:`` or other scheme in front is ignored.
        """
        number = to.rsplit(":", 1)[-1]
        for end in range(len(number), 1, -1):
            price = self.per_segment.get(number[:end])
            if price is not None:
                return number[:end], price
        if self.default is not None:
            return "default", self.default
        return None

    def estimate(self, to: str, text: str | Segments) -> EstimatedCost | None:
        """What sending *text* to *to* is expected to cost, or ``None`` if its price is unknown.

        Args:
            to: The E.164 number.
            text: The message body as sent, or its count from
                :func:`~cxcore_channels.sms.segments.count_segments`.
        """
        found = self.price(to)
        if found is None:
            return None
        prefix, price = found
        segments = count_segments(text) if isinstance(text, str) else text
        noun = "segment" if segments.parts == 1 else "segments"
        return EstimatedCost(
            price * segments.parts,
            self.currency,
            detail=f"{segments.parts} {noun} of {segments.encoding.value} x {price} "
            f"{self.currency} ({prefix})",
        )


EXAMPLE_PRICES = PriceTable(
    "USD",
    {
        "+1": "0.0083",
        "+44": "0.0500",
        "+61": "0.0600",
        "+65": "0.0500",
        "+91": "0.0800",
        "+971": "0.0700",
    },
    default="0.1000",
    source="EXAMPLE ONLY: made-up round figures showing the shape of a price table, "
    "not any provider's prices; configure your own",
)
"""An example :class:`PriceTable`, in US dollars. **Its figures are made up**: they
show the shape of a table (a few prefixes and a default), not anyone's prices.
Estimate with your provider's prices for your account."""
