"""The clock port: the only way the core learns the time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Tells the time. Services take one, so tests and simulations can control time.

    .. versionadded:: 0.1.0
    """

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    """The real time, in UTC.

    .. versionadded:: 0.1.0
    """

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: for tests, notebooks and simulations.

    >>> clock = ManualClock(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    >>> clock.advance(minutes=45).isoformat()
    '2026-03-29T01:15:00+00:00'

    Args:
        start: The time it starts at; must be aware.

    .. versionadded:: 0.1.0
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            msg = f"start: {start.isoformat()} has no time zone (expected an aware datetime)"
            raise ValueError(msg)
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The clock's current time, in UTC."""
        # No lock: reading one reference is atomic, and advance() stores a whole new
        # datetime, so a reader sees the time before or after a move, never half of one.
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by *delta*, or by ``timedelta(**kwargs)``; return the new time."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            msg = f"cannot move a clock backwards ({step})"
            raise ValueError(msg)
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
