"""Per-channel limits: how many sends may be in flight at once, and how many per second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import attrs

from cxcore.model._checks import Checks
from cxcore.ports.clock import Clock

__all__ = ["ChannelLimits", "Sleep", "TokenBucket"]

Sleep = Callable[[float], Awaitable[None]]
"""Waits a number of seconds: :func:`asyncio.sleep`, or a test's sleep that moves a manual clock."""


@attrs.frozen(kw_only=True)
class ChannelLimits:
    """The caps one channel's sends obey.

    >>> ChannelLimits(concurrency=4, rate=10.0, burst=5)
    ChannelLimits(concurrency=4, rate=10.0, burst=5)

    Args:
        concurrency: The most sends in flight at once.
        rate: The most sends per second, on average; ``None`` for no limit.
        burst: How many sends may go at once after a quiet spell (the bucket's size).

    Raises:
        ValidationError: Naming every field out of range.

    .. versionadded:: 0.1.0
    """

    concurrency: int = 8
    rate: float | None = None
    burst: int = 1

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        if (
            checks.is_a("concurrency", self.concurrency, int, "a whole number")
            and self.concurrency < 1
        ):
            checks.add("concurrency", f"{self.concurrency} is not 1 or more")
        if (
            self.rate is not None
            and checks.is_a("rate", self.rate, (int, float), "a number of sends per second")
            and not self.rate > 0
        ):
            checks.add("rate", f"{self.rate!r} is not more than 0 sends per second")
        if checks.is_a("burst", self.burst, int, "a whole number") and self.burst < 1:
            checks.add("burst", f"{self.burst} is not 1 or more")
        checks.raise_if_any("ChannelLimits")


class TokenBucket:
    """A token bucket: *rate* tokens a second, holding at most *burst*.

    Time comes from the injected clock, and waiting from the injected sleep,
    so a test drives both with a :class:`~cxcore.ManualClock`.

    Args:
        rate: Tokens added per second.
        burst: The most tokens held; the bucket starts full.
        clock: Tells the time.
        sleep: Waits (default :func:`asyncio.sleep`).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Clock, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock.now()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst}, tokens={self._tokens:.2f})"

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = (now - self._last).total_seconds()
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last = now

    async def acquire(self) -> None:
        """Take one token, waiting until there is one. Waiters are served in turn."""
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                await self._sleep((1.0 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1.0

    def try_acquire(self) -> float:
        """Take one token if there is one, without waiting.

        Returns:
            0.0 if a token was taken; otherwise how many seconds until one will be there.

        .. versionadded:: 0.1.0
        """
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def give_back(self) -> None:
        """Return a token taken for a send that did not go after all (never above *burst*).

        .. versionadded:: 0.1.0
        """
        self._refill()
        self._tokens = min(float(self.burst), self._tokens + 1.0)
