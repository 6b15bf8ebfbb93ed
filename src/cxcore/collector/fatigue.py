"""Who was asked when, as the collector's deciding routes need it, shared by all of them.

``/api/interactions`` and the in-app widget's eligibility call decide with the
distribution rules, which need a :class:`~cxcore.distribution.FatigueState`:
who was invited when. The collector keeps one, for every route of the
process, so a decision made by one route is seen by the next at once. It is
first read from the store's invitations inside the rules' longest window, then
topped up with the invitations stored since (by a dispatcher, ``cxcore send``,
another collector process) at most every *refresh* seconds; what no window
reaches any more is forgotten hourly. An invitation made before a read but
stored after it is found at the next read: the few seconds before the previous
read are read again when the store counts more invitations made in them than
were read there.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from datetime import datetime, timedelta

from cxcore.distribution.fatigue import FatigueState
from cxcore.distribution.rules import RuleSet
from cxcore.ports.clock import Clock
from cxcore.ports.store import Store

__all__ = ["FatigueFollower"]

# Invitations are read again from a little before the previous read, so that a
# write which committed late (its created_at earlier than our read) is not missed.
_OVERLAP = timedelta(seconds=5)
# Writes in flight at a read (queued for a group commit) land in its last second.
_TAIL = timedelta(seconds=1)


class FatigueFollower:
    """One process's :class:`~cxcore.distribution.FatigueState`, kept up with the store.

    Args:
        store: Where invitations are stored.
        rules: The rules whose longest window bounds what is read.
        clock: The time.
        refresh: Seconds between two reads of the store's newest invitations.
    """

    def __init__(self, store: Store, rules: RuleSet, clock: Clock, *, refresh: float = 1.0) -> None:
        self.store = store
        self.clock = clock
        self.refresh = refresh
        self.longest_days = max(1, rules.longest_window_days)
        # One state for every caller, made now: calls in flight together decide on it in turn.
        self._state = FatigueState()
        self._loading = asyncio.Lock()
        self._loaded_until: datetime | None = None
        self._next_refresh = 0.0
        self._next_prune = 0.0
        # When the invitations read lately were made (epoch seconds, ascending): those
        # the next read's window reaches.
        self._seen: list[float] = []

    async def state(self, now: datetime | None = None) -> FatigueState:
        """The state, with the store's invitations read if *refresh* seconds have passed."""
        now = self.clock.now() if now is None else now
        if now.timestamp() < self._next_refresh:
            return self._state
        async with self._loading:
            if now.timestamp() < self._next_refresh:  # another call read them meanwhile
                return self._state
            since = (
                now - timedelta(days=self.longest_days)
                if self._loaded_until is None
                else await self._since(self._loaded_until)
            )
            invited = self._state.invited
            read: list[float] = []
            for person, survey, created_at, account in await self.store.invited_since(since=since):
                at = created_at.timestamp()
                invited(person, math.ceil(at), survey=survey, account_id=account)
                read.append(at)
            # What the next window reaches: kept from before where this read did not look,
            # and this read's, which replaces what was seen from its start on.
            start, begun = (now - _OVERLAP).timestamp(), since.timestamp()
            seen = self._seen
            self._seen = [at for at in seen[bisect.bisect_left(seen, start) :] if at < begun]
            self._seen.extend(read[bisect.bisect_left(read, start) :])
            if now.timestamp() >= self._next_prune:  # forget what no window reaches any more
                self._state.prune(now, keep_days=self.longest_days)
                self._next_prune = now.timestamp() + 3600
            self._loaded_until = now
            self._next_refresh = now.timestamp() + self.refresh
        return self._state

    async def _since(self, loaded_until: datetime) -> datetime:
        """Where to read from: the previous read, or before it where that changed since.

        An invitation made before the previous read may be stored after it (its
        write was queued, or another process's). The window before the previous
        read is counted in two spans, the last second (where writes still in
        flight at that read land) and the seconds before it; the read starts at
        the first span in which the store counts more (or fewer) invitations
        than this follower read there.
        """
        tail = loaded_until - _TAIL
        for since, until in ((loaded_until - _OVERLAP, tail), (tail, loaded_until)):
            stored = await self.store.count_invited(since=since, until=until)
            if stored != self._known(since, until):
                return since
        return loaded_until

    def _known(self, since: datetime, until: datetime) -> int:
        """How many invitations made in [*since*, *until*) this follower read."""
        seen = self._seen
        return bisect.bisect_left(seen, until.timestamp()) - bisect.bisect_left(
            seen, since.timestamp()
        )
