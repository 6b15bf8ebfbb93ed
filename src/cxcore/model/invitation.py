"""Invitations: one request to one person to answer one survey, on one channel."""

from __future__ import annotations

import enum
import re
from datetime import datetime

import attrs

from cxcore.model._checks import Checks
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import Scalar, check_scalars, frozen_scalars

__all__ = ["Disposition", "Invitation"]


class Disposition(enum.StrEnum):
    """What became of an invitation; response rates are computed from these.

    .. versionadded:: 0.1.0
    """

    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    OPENED = "opened"
    DISMISSED = "dismissed"
    """The respondent closed the survey unanswered where it was shown (the in-app widget).

    .. versionadded:: 0.1.0
    """
    STARTED = "started"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"
    COMPLAINED = "complained"

    @property
    def rank(self) -> int | None:
        """How far along the road to an answer this disposition is, or ``None`` if it is off it.

        A delivery status never goes backwards: a provider's late "sent" after
        "delivered", or a "delivered" after the customer answered, is stale
        and not recorded. ``sent`` < ``delivered``, ``bounced``, ``failed``
        (the provider's final word on delivery, so the first of them stands)
        < ``opened`` < ``dismissed`` < ``started`` < ``completed`` < ``complained``.
        ``expired`` is not a delivery status.

        >>> Disposition.DELIVERED.rank > Disposition.SENT.rank
        True

        .. versionadded:: 0.1.0
        """
        return _RANKS.get(self)


_SHORT_CODE = re.compile(r"[0-9A-Za-z]{12}")

_RANKS = {
    Disposition.SENT: 1,
    Disposition.DELIVERED: 2,
    Disposition.BOUNCED: 2,
    Disposition.FAILED: 2,
    Disposition.OPENED: 3,
    Disposition.DISMISSED: 4,
    Disposition.STARTED: 5,
    Disposition.COMPLETED: 6,
    Disposition.COMPLAINED: 7,
}


@attrs.frozen(kw_only=True, repr=False)
class Invitation:
    """A request to one person to answer one survey, on one channel.

    Channels render it into a message. Tokens are signed and opaque, one per
    purpose: they identify the invitation, never the person, and channels
    never sign anything themselves.

    Args:
        id: The invitation's id.
        survey_id: The survey asked.
        survey_version: Its version.
        channel: The channel it goes out on.
        address: Where it goes: an email, an E.164 number, an app user id;
            ``None`` for channels that reach whoever is in front of them.
        token: The signed token that answers carry back (survey links, one-click scores).
        unsubscribe_token: The signed token of the one-click unsubscribe link, if any.
        amp_token: The signed token an AMP for Email form posts with, if any.
        short_code: The code of its short survey link (``/l/<code>``), if any:
            12 letters and digits, unique among stored invitations (one
            that another holds is left out when the invitation is stored). The
            outbox gives one to an invitation to a phone number (an SMS, a
            WhatsApp message), where a link's length is paid for.
        created_at: When it was created.
        expires_at: After this, answers are no longer accepted.
        customer_id: The customer invited, if known.
        account_id: The business account the customer was asked as one of,
            if any: the account window of the fatigue rules counts it.
        interaction_id: The interaction asked about, if any.
        name: How to greet the person. Untrusted text: channels escape it.
        locale: The language to ask in.
        timezone: The person's IANA time zone.
        reminder: 0 for the first send, then 1, 2... for reminders.
        context: The interaction's dimensions and attributes.

    .. versionadded:: 0.1.0
    """

    id: str
    survey_id: str
    survey_version: int
    channel: str
    address: str | None
    token: str
    created_at: datetime
    unsubscribe_token: str | None = None
    amp_token: str | None = None
    expires_at: datetime | None = None
    customer_id: str | None = None
    interaction_id: str | None = None
    name: str | None = None
    locale: str = "en"
    timezone: str = "UTC"
    reminder: int = 0
    context: FrozenDict[str, Scalar] = attrs.field(factory=FrozenDict, converter=frozen_scalars)
    account_id: str | None = None
    short_code: str | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.text("id", self.id, single_line=True)
        checks.identifier("survey_id", self.survey_id)
        if checks.is_a("survey_version", self.survey_version, int, "a whole number") and (
            self.survey_version < 1
        ):
            checks.add("survey_version", f"{self.survey_version} is not 1 or more")
        checks.identifier("channel", self.channel)
        if self.address is not None:
            checks.text("address", self.address, single_line=True)
        checks.text("token", self.token, single_line=True)
        for name in ("unsubscribe_token", "amp_token"):
            value = getattr(self, name)
            if value is not None:
                checks.text(name, value, single_line=True)
        if (
            checks.aware("created_at", self.created_at)
            and self.expires_at is not None
            and (checks.aware("expires_at", self.expires_at) and self.expires_at <= self.created_at)
        ):
            checks.add("expires_at", f"{self.expires_at.isoformat()} is not after created_at")
        if self.account_id is not None:
            checks.text("account_id", self.account_id, single_line=True)
        if (
            self.short_code is not None
            and checks.is_a("short_code", self.short_code, str, "text")
            and not _SHORT_CODE.fullmatch(self.short_code)
        ):
            checks.add("short_code", f"{self.short_code!r} is not 12 letters and digits")
        if self.name is not None:
            checks.is_a("name", self.name, str, "text")
        checks.locale("locale", self.locale)
        checks.timezone("timezone", self.timezone)
        if checks.is_a("reminder", self.reminder, int, "a whole number") and self.reminder < 0:
            checks.add("reminder", f"{self.reminder} is not 0 or more")
        check_scalars(checks, "context", self.context)
        checks.raise_if_any(f"Invitation {self.id!r}")

    def __repr__(self) -> str:
        # Addresses and tokens are personal or secret: never in logs.
        return (
            f"Invitation(id={self.id!r}, survey={self.survey_id!r} v{self.survey_version}, "
            f"channel={self.channel!r}, reminder={self.reminder})"
        )
