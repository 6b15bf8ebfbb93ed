"""Customers: who they are, how to reach them, and what they agreed to."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime

import attrs

from cxcore.model._checks import Checks, as_tuple, member_or_value
from cxcore.model.frozendict import FrozenDict

__all__ = ["AddressKind", "Consent", "Customer", "Purpose"]

_COUNTRY = re.compile(r"[A-Z]{2}")


class AddressKind(enum.StrEnum):
    """The kind of address a channel sends to.

    .. versionadded:: 0.1.0
    """

    EMAIL = "email"
    """An email address."""
    PHONE = "phone"
    """An E.164 phone number (SMS, WhatsApp, IVR)."""
    APP_USER = "app_user"
    """A user id inside the customer's app (in-app prompts)."""
    NONE = "none"
    """No address: the channel reaches whoever is in front of it (a kiosk)."""


class Purpose(enum.StrEnum):
    """What a customer consents (or not) to be contacted for.

    .. versionadded:: 0.1.0
    """

    SURVEY = "survey"
    """Feedback requests: transactional and relationship surveys, and their reminders."""
    SERVICE = "service"
    """Closing the loop: telling the customer what was done about their feedback."""
    MARKETING = "marketing"
    """Anything promotional. cxcore never sends it, but records the consent."""


def _frozen_attrs(value: Mapping[str, str] | None) -> FrozenDict[str, str]:
    if value is None:
        return FrozenDict()
    if isinstance(value, Mapping):
        return value if isinstance(value, FrozenDict) else FrozenDict(value)
    return value  # type: ignore[unreachable]  # reported by the checks


def _purpose(value: Purpose | str) -> Purpose:
    return member_or_value(Purpose, value)


@attrs.frozen
class Consent:
    """One entry of a customer's consent: granted or withdrawn, for a channel and purpose.

    Args:
        channel: The channel it applies to (``"sms"``, ``"email"``), or ``"*"`` for all.
        purpose: What it is for.
        granted: ``True`` for an opt-in, ``False`` for an opt-out.
        source: Where it came from: ``"sms_stop"``, ``"email_link"``,
            ``"kiosk_opt_in"``, ``"signup_form"``...
        recorded_at: When it was given, with its time zone.

    .. versionadded:: 0.1.0
    """

    channel: str
    purpose: Purpose = attrs.field(converter=_purpose)
    granted: bool
    source: str
    recorded_at: datetime

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        if self.channel != "*":
            checks.identifier("channel", self.channel)
        checks.member("purpose", self.purpose, Purpose, "a purpose")
        checks.is_a("granted", self.granted, bool, "True or False")
        checks.identifier("source", self.source)
        checks.aware("recorded_at", self.recorded_at)
        checks.raise_if_any("Consent")


@attrs.frozen
class Customer:
    """A customer: contact points, consent, language and time zone.

    >>> c = Customer(id="C-1001", email="asha@example.in", phone="+919812345678",
    ...              locale="hi", timezone="Asia/Kolkata", country="IN")
    >>> c.address(AddressKind.PHONE)
    '+919812345678'

    Args:
        id: The customer's id in your system.
        email: Email address, if known.
        phone: Mobile number in E.164 form (``+919812345678``), if known.
        app_user_id: The customer's user id in your app, if any.
        locale: Preferred language (``"en"``, ``"hi"``, ``"en-IN"``).
        timezone: IANA time zone (``"Asia/Kolkata"``); quiet hours are kept in it.
            ``None`` when unknown: distribution then uses the country's zone
            if the country has only one (India, Nepal), and otherwise does not
            survey the customer, rather than guess.
        country: ISO 3166 alpha-2 country code (``"IN"``), for per-country rules.
        account_id: The business account the customer belongs to (B2B), if any.
        preferred_channels: Channels the customer prefers, best first.
        consents: Consent entries; the latest per channel and purpose wins.
        attributes: Free attributes (segment, tier, city...).

    Raises:
        ValidationError: Listing every malformed field.

    .. versionadded:: 0.1.0
    """

    id: str
    email: str | None = None
    phone: str | None = None
    app_user_id: str | None = None
    locale: str = "en"
    timezone: str | None = None
    country: str | None = None
    account_id: str | None = None
    preferred_channels: tuple[str, ...] = attrs.field(default=(), converter=as_tuple)
    consents: tuple[Consent, ...] = attrs.field(default=(), converter=as_tuple)
    attributes: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_frozen_attrs)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        if checks.is_a("id", self.id, str, "a string"):
            checks.text("id", self.id, single_line=True)
        if self.email is not None:
            checks.email("email", self.email)
        if self.phone is not None:
            checks.phone("phone", self.phone)
        if self.app_user_id is not None:
            checks.text("app_user_id", self.app_user_id, single_line=True)
        checks.locale("locale", self.locale)
        if self.timezone is not None:
            checks.timezone("timezone", self.timezone)
        country: object = self.country  # anything may have been passed
        if country is not None and not (isinstance(country, str) and _COUNTRY.fullmatch(country)):
            checks.add("country", f"{country!r} is not an ISO 3166 code (expected e.g. 'IN')")
        if self.account_id is not None:
            checks.text("account_id", self.account_id, single_line=True)
        for i, channel in enumerate(
            checks.items("preferred_channels", self.preferred_channels, str, "channel names")
        ):
            checks.identifier(f"preferred_channels[{i}]", channel)
        checks.items("consents", self.consents, Consent, "Consent entries")
        if checks.is_a("attributes", self.attributes, Mapping, "a mapping"):
            for key, value in self.attributes.items():
                checks.is_a(f"attributes.{key}", value, str, "a string")
        checks.raise_if_any(f"Customer {self.id!r}")

    def address(self, kind: AddressKind) -> str | None:
        """Return the customer's address of *kind*, or ``None`` if there is none."""
        match kind:
            case AddressKind.EMAIL:
                return self.email
            case AddressKind.PHONE:
                return self.phone
            case AddressKind.APP_USER:
                return self.app_user_id
            case AddressKind.NONE:
                return None

    def consent(self, channel: str, purpose: Purpose) -> Consent | None:
        """Return the latest consent entry for *channel* and *purpose*.

        An entry for channel ``"*"`` applies to every channel. Returns ``None``
        when nothing was recorded: what that means is the caller's policy.
        """
        relevant = [
            c for c in self.consents if c.purpose == purpose and c.channel in (channel, "*")
        ]
        return max(relevant, key=lambda c: c.recorded_at, default=None)
