"""Quiet hours: sends wait for the recipient's local sending window; they are never dropped."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs

from cxcore.model._checks import Checks, as_tuple
from cxcore.model.customer import Customer

__all__ = ["QuietHours", "for_country", "next_allowed", "zone"]

_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_COUNTRY = re.compile(r"[A-Z]{2}|\*")


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The :class:`~zoneinfo.ZoneInfo` called *name*, cached.

    .. versionadded:: 0.1.0
    """
    return ZoneInfo(name)


def _parse(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


@attrs.frozen(kw_only=True)
class QuietHours:
    """The local hours in which invitations may be sent, per country.

    Outside them, a send is deferred to the next time the window opens in the
    recipient's own time zone. A window may wrap midnight (``"22:00"`` to
    ``"06:00"``). Channels where the person is in front of the screen (in-app,
    kiosk) are exempt by default.

    >>> india = QuietHours(country="IN", send_from="09:00", send_until="21:00")
    >>> from datetime import datetime, UTC
    >>> late = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # 21:30 in Kolkata
    >>> next_allowed(late, "Asia/Kolkata", india).isoformat()
    '2026-11-21T03:30:00+00:00'

    Args:
        country: An ISO 3166 code (``"IN"``), or ``"*"`` for every other country.
        send_from: Local time the window opens, ``"HH:MM"``.
        send_until: Local time it closes, ``"HH:MM"`` (exclusive).
        exempt_channels: Channels the window does not apply to.

    .. versionadded:: 0.1.0
    """

    country: str
    send_from: str
    send_until: str
    exempt_channels: tuple[str, ...] = attrs.field(default=("inapp", "kiosk"), converter=as_tuple)
    _start: time = attrs.field(init=False, eq=False, repr=False, hash=False)
    _end: time = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        country: object = self.country  # anything may have been passed
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            checks.add("country", f"{country!r} is not an ISO 3166 code such as 'IN', or '*'")
        times = []
        for name in ("send_from", "send_until"):
            value = getattr(self, name)
            if isinstance(value, str) and _HHMM.fullmatch(value):
                times.append(_parse(value))
            else:
                checks.add(name, f"{value!r} is not a time of day (expected 'HH:MM', e.g. '09:00')")
        if len(times) == 2 and times[0] == times[1]:
            checks.add("send_until", f"{self.send_until!r} equals send_from: the window is empty")
        exempt = checks.items("exempt_channels", self.exempt_channels, str, "channel names")
        for i, channel in enumerate(exempt):
            checks.identifier(f"exempt_channels[{i}]", channel)
        checks.raise_if_any(f"QuietHours {self.country!r}")
        object.__setattr__(self, "_start", times[0])
        object.__setattr__(self, "_end", times[1])

    def allows(self, local: time) -> bool:
        """Whether a send may go out at the local time of day *local*."""
        if self._start < self._end:
            return self._start <= local < self._end
        return local >= self._start or local < self._end

    def describe(self) -> str:
        """The window as people write it: ``"09:00-21:00 (IN)"``."""
        return f"{self.send_from}-{self.send_until} ({self.country})"


def next_allowed(due: datetime, timezone: str | ZoneInfo, hours: QuietHours | None) -> datetime:
    """The first moment at or after *due* inside *hours*, in the zone *timezone*; in UTC.

    Correct across DST changes and for offsets such as +05:30 and +05:45: the
    window is kept in local wall time, and a window that opens inside a DST
    gap opens at the first instant that exists.

    Args:
        due: When the send would go out, aware.
        timezone: The recipient's IANA time zone.
        hours: The window; ``None`` allows any time.

    .. versionadded:: 0.1.0
    """
    due = due.astimezone(UTC)
    if hours is None:
        return due
    tz = zone(timezone) if isinstance(timezone, str) else timezone
    local = due.astimezone(tz)
    if hours.allows(local.time()):
        return due
    day = local.date()
    for step in range(3):
        candidate = datetime.combine(day + timedelta(days=step), hours._start, tzinfo=tz)  # noqa: SLF001 - our own class
        opens = candidate.astimezone(UTC)
        if opens >= due:
            return opens
    msg = f"no sending window after {due.isoformat()} in {tz}"  # pragma: no cover
    raise AssertionError(msg)  # pragma: no cover


def for_country(windows: Iterable[QuietHours], country: str | None) -> QuietHours | None:
    """The window for *country*, else the ``"*"`` window, else ``None``."""
    fallback = None
    for w in windows:
        if w.country == country:
            return w
        if w.country == "*":
            fallback = w
    return fallback


@functools.cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """Country code to its IANA zones, from the tz database's ``zone.tab`` (empty if absent)."""
    import zoneinfo  # noqa: PLC0415 - only needed to find the tz database

    for base in zoneinfo.TZPATH:
        path = Path(base) / "zone.tab"
        if path.is_file():
            zones: dict[str, list[str]] = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                if line and not line.startswith("#"):
                    fields = line.split("\t")
                    if len(fields) >= 3:
                        zones.setdefault(fields[0], []).append(fields[2])
            return {code: tuple(z) for code, z in zones.items()}
    return {}


def customer_zone(customer: Customer) -> str | None:
    """The customer's time zone: their own, or their country's when it has only one.

    >>> from cxcore import Customer
    >>> customer_zone(Customer(id="C-1", country="IN"))
    'Asia/Kolkata'
    >>> customer_zone(Customer(id="C-2", country="US")) is None  # several zones: unknown
    True

    .. versionadded:: 0.1.0
    """
    if customer.timezone is not None:
        return customer.timezone
    zones = _country_zones().get(customer.country or "", ())
    return zones[0] if len(zones) == 1 else None
