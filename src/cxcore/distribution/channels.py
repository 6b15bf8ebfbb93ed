"""Channel choice: preference and consent, then the contact points there are, then a fallback."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs

from cxcore.model._checks import Checks, as_tuple
from cxcore.model.customer import AddressKind, Customer, Purpose
from cxcore.model.frozendict import FrozenDict

__all__ = ["ChannelPolicy", "Rejection", "choose_channel"]

_DEFAULT_ADDRESSES: FrozenDict[str, AddressKind] = FrozenDict(
    {
        "email": AddressKind.EMAIL,
        "sms": AddressKind.PHONE,
        "whatsapp": AddressKind.PHONE,
        "ivr": AddressKind.PHONE,
        "inapp": AddressKind.APP_USER,
        "kiosk": AddressKind.NONE,
    }
)


def _addresses(value: Mapping[str, AddressKind | str]) -> FrozenDict[str, AddressKind]:
    if isinstance(value, Mapping):
        out: dict[str, AddressKind] = {}
        for k, v in value.items():
            try:
                out[k] = AddressKind(v)
            except ValueError:
                out[k] = v  # type: ignore[assignment]  # reported by the checks
        return FrozenDict(out)
    return value  # type: ignore[unreachable]  # reported by the checks


@attrs.frozen(kw_only=True)
class ChannelPolicy:
    """How a channel is chosen for a person.

    The order is: the person's preferred channels, then the rule's (or the
    touchpoint's) channels, then *fallback*. A channel is skipped when the
    person has no address of its kind, opted out of surveys on it, needs an
    opt-in there and gave none, or the address is suppressed.

    Args:
        fallback: Channels to try after the preferred and listed ones.
        anonymous: Channels that reach anonymous visitors, best first.
        opt_in_required: Channels where silence is not consent (SMS in some
            countries): only an explicit opt-in allows a send.
        addresses: The address kind of each channel; the dispatcher fills it
            from the channels' :class:`~cxcore.Capabilities`.

    .. versionadded:: 0.1.0
    """

    fallback: tuple[str, ...] = attrs.field(default=("email", "sms", "inapp"), converter=as_tuple)
    anonymous: tuple[str, ...] = attrs.field(default=("inapp", "kiosk"), converter=as_tuple)
    opt_in_required: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    addresses: FrozenDict[str, AddressKind] = attrs.field(
        default=_DEFAULT_ADDRESSES, converter=_addresses
    )

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        for name in ("fallback", "anonymous", "opt_in_required"):
            for i, channel in enumerate(checks.items(name, getattr(self, name), str, "channels")):
                if checks.identifier(f"{name}[{i}]", channel) and channel not in self.addresses:
                    checks.add(
                        f"{name}[{i}]",
                        f"{channel!r} has no address kind (add it to addresses; known: "
                        f"{', '.join(sorted(self.addresses))})",
                    )
        if checks.is_a("addresses", self.addresses, Mapping, "a table of channel to address kind"):
            for channel, kind in self.addresses.items():
                if checks.identifier(f"addresses[{channel!r}]", channel):
                    checks.member(f"addresses.{channel}", kind, AddressKind, "an address kind")
        checks.raise_if_any("ChannelPolicy")


@attrs.frozen
class Rejection:
    """Why one channel was not chosen.

    .. versionadded:: 0.1.0
    """

    channel: str
    reason: str

    def __str__(self) -> str:
        return f"{self.channel}: {self.reason}"


def _order(preferred: Iterable[str], listed: Iterable[str], fallback: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for channel in (*preferred, *listed, *fallback):
        seen.setdefault(channel, None)
    return list(seen)


def choose_channel(
    policy: ChannelPolicy,
    customer: Customer | None,
    listed: tuple[str, ...],
    suppression: Callable[[str], object],
    *,
    trace: list[Rejection] | None = None,
) -> tuple[str, str | None] | None:
    """Choose the channel and address for *customer* (``None``: an anonymous visitor).

    Args:
        policy: The channel policy.
        customer: The person; ``None`` for an anonymous visitor.
        listed: The rule's or touchpoint's channels, best first; empty means any.
        suppression: Returns why an address or customer id is suppressed, or ``None``.
        trace: If given, every channel passed over is appended with its reason.

    Returns:
        ``(channel, address)``, or ``None`` when no channel may be used.

    .. versionadded:: 0.1.0
    """
    if customer is None:
        order = [c for c in (listed or policy.anonymous) if c in policy.anonymous]
        if order:
            return order[0], None
        if trace is not None:
            trace.append(
                Rejection(
                    "*", "anonymous visitors are reached only on " + ", ".join(policy.anonymous)
                )
            )
        return None
    if (why_person := suppression(customer.id)) is not None:
        if trace is not None:
            trace.append(Rejection("*", f"the customer is suppressed ({why_person})"))
        return None
    preferred = customer.preferred_channels
    if listed:
        preferred = tuple(c for c in preferred if c in listed)
        order = _order(preferred, listed, ())
    else:
        order = _order(preferred, policy.fallback, ())
    for channel in order:
        reason, address = _check(policy, customer, channel, suppression)
        if reason is None:
            return channel, address
        if trace is not None:
            trace.append(Rejection(channel, reason))
    return None


def _check(
    policy: ChannelPolicy,
    customer: Customer,
    channel: str,
    suppression: Callable[[str], object],
) -> tuple[str | None, str | None]:
    """Why *channel* may not reach *customer* (``None`` if it may), and the address."""
    kind = policy.addresses.get(channel)
    if kind is None:
        return "no address kind is known for this channel", None
    if kind is AddressKind.NONE:
        return "reaches only whoever is in front of it (anonymous visitors)", None
    address = customer.address(kind)
    if address is None:
        return f"no {kind.value} address", None
    consent = customer.consent(channel, Purpose.SURVEY) if customer.consents else None
    if consent is not None and not consent.granted:
        return f"opted out of surveys ({consent.source})", None
    if consent is None and channel in policy.opt_in_required:
        return "needs an explicit opt-in, and there is none", None
    if (why := suppression(address)) is not None:
        return f"the address is suppressed ({why})", None
    return None, address
