"""When to try a send again: exponential backoff with full jitter, a bounded number of times.

A retry is durable: the dispatcher puts the outbox item back to ``pending``
with a later due time, and any dispatcher (this one after a restart, or
another sharing the store) picks it up then. Nothing sleeps in process, which
is why this is a small policy object and not a retrying decorator.
"""

from __future__ import annotations

import random
from datetime import timedelta

import attrs

from cxcore.model._checks import Checks

__all__ = ["RetryPolicy"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for sends the channel says may succeed later.

    The *n*-th retry waits a uniformly random time between 0 and
    ``min(cap, base * 2 ** (n - 1))`` ("full jitter"), so that many sends failing
    together do not come back together.

    >>> policy = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1), max_attempts=5)
    >>> [str(policy.ceiling(n)) for n in (1, 3, 20)]
    ['0:00:30', '0:02:00', '1:00:00']
    >>> timedelta(0) <= policy.delay(3, random.Random(7)) <= policy.ceiling(3)
    True

    Args:
        base: The ceiling of the first retry's wait.
        cap: The largest ceiling, however many attempts.
        max_attempts: Attempts in all (the first send included); after the
            last, a retryable failure is final.

    Raises:
        ValidationError: Naming every field out of range.

    .. versionadded:: 0.1.0
    """

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 6

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        if checks.is_a("base", self.base, timedelta, "a timedelta") and self.base <= timedelta(0):
            checks.add("base", f"{self.base} is not more than zero")
        if checks.is_a("cap", self.cap, timedelta, "a timedelta") and self.cap < self.base:
            checks.add("cap", f"{self.cap} is less than base ({self.base})")
        if (
            checks.is_a("max_attempts", self.max_attempts, int, "a whole number")
            and self.max_attempts < 1
        ):
            checks.add("max_attempts", f"{self.max_attempts} is not 1 or more")
        checks.raise_if_any("RetryPolicy")

    def ceiling(self, retry: int) -> timedelta:
        """The longest wait before retry number *retry* (1 for the first)."""
        exponent = min(max(retry, 1) - 1, 1000)  # in floats: 2.0**1000 still fits
        seconds = self.base.total_seconds() * 2.0**exponent
        return min(self.cap, timedelta(seconds=min(seconds, self.cap.total_seconds())))

    def delay(self, retry: int, rng: random.Random) -> timedelta:
        """A wait before retry number *retry*, drawn from ``[0, ceiling(retry)]``."""
        ceiling = self.ceiling(retry).total_seconds()
        return timedelta(seconds=rng.uniform(0.0, ceiling))

    def gives_up(self, attempts: int) -> bool:
        """Whether a send that failed on its *attempts*-th attempt should not be retried."""
        return attempts >= self.max_attempts
