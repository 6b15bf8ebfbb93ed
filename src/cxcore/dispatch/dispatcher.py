"""The dispatcher: claims due sends, sends them through their channels, records how each ended."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from cxcore._batching import Batcher
from cxcore.dispatch.limits import ChannelLimits, Sleep, TokenBucket
from cxcore.dispatch.outbox import reminder_of
from cxcore.dispatch.retry import RetryPolicy
from cxcore.errors import ChannelClosedError, CxError, SendError
from cxcore.model.customer import Consent, Purpose
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.survey import Survey
from cxcore.ports.channel import (
    Channel,
    DeliveryLookup,
    EstimatedCost,
    OutboundMessage,
    SendResult,
)
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.store import (
    ClaimedSend,
    ClaimLostError,
    Finish,
    OutboxItem,
    OutboxState,
    Store,
    StoreError,
)

__all__ = [
    "DeliveryLookup",
    "DispatchError",
    "DispatchOutcome",
    "DispatchReport",
    "Dispatcher",
    "ReconcileReport",
]

log = logging.getLogger("cxcore.dispatch")

_SUPPRESS_REASON = "hard_bounce"
"""What a provider's refusal of the address itself is kept as, in the suppression list."""


class DispatchError(CxError):
    """An operator asked for what the outbox cannot do (mark sent an item that is not unknown).

    .. versionadded:: 0.1.0
    """


@attrs.frozen(kw_only=True)
class DispatchOutcome:
    """What became of one outbox item in one pass.

    Attributes:
        item_id: The outbox item.
        invitation_id: Its invitation.
        channel: Its channel.
        state: The state it was left in (``pending`` means: retried later).
        detail: Why, for anything but a send: the error, the suppression, the expiry.
        provider_id: The provider's id, once sent.
        retry_at: When it will be tried again, if pending.
        cost: What the send is expected to cost, once sent, if its channel
            says (the ``cost`` of its :class:`~cxcore.SendResult`).

    .. versionadded:: 0.1.0
    """

    item_id: str
    invitation_id: str
    channel: str
    state: OutboxState
    detail: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None
    cost: EstimatedCost | None = None


@attrs.frozen
class DispatchReport:
    """What one :meth:`Dispatcher.run_once` pass did, item by item.

    ``str(report)`` counts the outcomes per state, and adds the estimated cost
    of the sends whose channels said what they cost.

    .. versionadded:: 0.1.0
    """

    outcomes: tuple[DispatchOutcome, ...] = ()

    def __len__(self) -> int:
        return len(self.outcomes)

    def count(self, state: OutboxState) -> int:
        """How many items were left in *state*."""
        return sum(1 for o in self.outcomes if o.state is state)

    def by_state(self, state: OutboxState) -> list[DispatchOutcome]:
        """The outcomes that left their item in *state*."""
        return [o for o in self.outcomes if o.state is state]

    def estimated_cost(self) -> dict[str, Decimal]:
        """The total estimated cost of the sends, per currency (empty if no channel said).

        .. versionadded:: 0.1.0
        """
        totals: dict[str, Decimal] = {}
        for o in self.outcomes:
            if o.cost is not None:
                totals[o.cost.currency] = totals.get(o.cost.currency, Decimal(0)) + o.cost.amount
        return dict(sorted(totals.items()))

    def __str__(self) -> str:
        counts = Counter(o.state for o in self.outcomes)
        parts = [f"{counts[s]} {s.value}" for s in OutboxState if counts[s]]
        text = f"{len(self.outcomes)} claimed: " + (", ".join(parts) if parts else "nothing due")
        if costs := self.estimated_cost():
            text += "; estimated cost " + ", ".join(f"{v} {c}" for c, v in costs.items())
        return text


@attrs.frozen
class ReconcileReport:
    """What :meth:`Dispatcher.reconcile` did with the ``unknown`` sends.

    Attributes:
        sent: Outcomes of sends the provider confirmed (now ``sent``).
        requeued: Outcomes of sends the provider never got (now ``pending``, due at once).
        unresolved: Outcomes of sends still ``unknown``, with why (no lookup on
            the channel, or the lookup failed): decide with
            :meth:`Dispatcher.mark_sent` or :meth:`Dispatcher.requeue`.

    .. versionadded:: 0.1.0
    """

    sent: tuple[DispatchOutcome, ...] = ()
    requeued: tuple[DispatchOutcome, ...] = ()
    unresolved: tuple[DispatchOutcome, ...] = ()


def _default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    code = getattr(exc, "code", None)
    return f"{text} (code {code})" if code else text


def _refusal(
    channel: str, suppression: str | None, consents: Iterable[Consent | None]
) -> str | None:
    """Why a send on *channel* must not go out, given its facts, or ``None``."""
    if suppression is not None:
        return f"the address is suppressed on {channel!r} ({suppression})"
    for consent in consents:
        if consent is not None and not consent.granted:
            return (
                f"consent to surveys on {channel!r} was withdrawn "
                f"({consent.source}, {consent.recorded_at.isoformat()})"
            )
    return None


class _Finisher:
    """Records how a pass's sends ended, many in one store write.

    Each send's end is durable when its :meth:`finish` returns, as with
    :meth:`Store.finish <cxcore.Store.finish>`: the first end
    starts a write at once, and the ends that come while a write is under way
    go together in the next. A send is never held back for the rest of its
    pass, so a crash loses no more than one write's worth of ends, and those
    sends are recovered as ``unknown``, as before.
    """

    def __init__(self, store: Store, worker: str) -> None:
        async def write(batch: Sequence[Finish]) -> list[OutboxItem | StoreError]:
            return await store.finish_many(batch, worker=worker)

        self._batcher: Batcher[Finish, OutboxItem] = Batcher(write, failed=_not_recorded)

    async def finish(self, finish: Finish) -> OutboxItem:
        """Record *finish* while this worker holds the claim; the stored item.

        Raises:
            ClaimLostError: If the claim was lost (nothing recorded).
            StoreError: If the store failed (nothing recorded).
        """
        return await self._batcher.submit(finish)


async def _first(*waits: Awaitable[object], at_most: float | None = None) -> None:
    """Wait until the first of *waits* ends (or *at_most* seconds pass); leave the others be.

    Coroutines among *waits* are wrapped in tasks, which are cancelled after.
    """
    own = [asyncio.ensure_future(w) for w in waits if asyncio.iscoroutine(w)]
    others = [w for w in waits if not asyncio.iscoroutine(w)]
    try:
        await asyncio.wait(
            [*own, *map(asyncio.ensure_future, others)],
            timeout=at_most,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        for task in own:
            task.cancel()


def _not_recorded(finish: Finish, exc: Exception) -> StoreError:
    error = StoreError(
        f"outbox item {finish.item_id!r}: its end ({finish.state.value}) was not recorded: {exc}"
    )
    error.__cause__ = exc
    return error


@attrs.define
class _Pass:
    """What one pass shares between its sends."""

    finisher: _Finisher
    claimed_at: datetime
    refused: set[tuple[str, str]]
    """(address, channel) pairs a provider refused in the passes under way (now suppressed).

    Shared by the passes under way together (see :meth:`Dispatcher.run`): the
    others claimed their sends before the store knew of the refusal.
    """
    waiting: set[str] = attrs.Factory(set)
    """The items whose send has not yet taken its channel's slot, nor ended."""
    tail: asyncio.Event | None = None
    """Set once no more than *tail_at* items are waiting: the next pass may claim."""
    tail_at: int = 0

    def started(self, item_id: str) -> None:
        """*item_id* took its slot, or ended without one."""
        self.waiting.discard(item_id)
        if self.tail is not None and len(self.waiting) <= self.tail_at:
            self.tail.set()


class Dispatcher:
    r"""Sends what the outbox owes, each send through its channel, within the channel's caps.

    Every send ends in a durable state:

    * the provider accepted it: ``sent``, with the provider's id, and a
      ``sent`` disposition on the invitation;
    * :class:`~cxcore.SendError` with ``retryable``: ``pending`` again, due
      after a backoff with full jitter, until ``max_attempts``,
      then ``failed``;
    * :class:`~cxcore.SendError` with ``suppress``: ``suppressed``, and the
      address joins the store's suppression list;
    * :class:`~cxcore.SendError` with ``ambiguous``, or any other exception
      from ``send`` (a timeout included), since the provider may have accepted
      the message: ``unknown``, never re-sent until :meth:`reconcile`\d;
    * any other :class:`~cxcore.SendError`: ``failed``.

    Before calling the channel it checks, at send time, that the address is not
    suppressed and that consent to surveys on the channel was not withdrawn
    (else ``suppressed``, the channel never called), and that the invitation
    has not expired (else ``failed``).

    A pass claims its batch with :meth:`Store.claim_sends
    <cxcore.Store.claim_sends>`, which reads each send's invitation
    and its suppression and consent facts in the same round trip, and records
    how sends ended with :meth:`Store.finish_many
    <cxcore.Store.finish_many>`, many ends per write (each still
    compare-and-set on this dispatcher's claim, and durable before the pass
    moves on from it). A send that waits for its channel's slot longer than
    *recheck_after* since the claim reads its suppression and consent again
    just before it goes; one to an address a provider refused earlier in a
    pass under way is ``suppressed`` without calling the channel.

    Args:
        store: The store holding the outbox (:class:`~cxcore.stores.SQLiteStore`...).
        channels: Open channels by name.
        clock: Tells the time.
        worker_id: Names this dispatcher's claims; unique per live process
            (default: host, process id and a random suffix).
        limits: Per-channel caps, by channel name; *default_limits* for the rest.
        default_limits: The caps of channels not in *limits*.
        retry: When to retry.
        lease: How long a claim lasts. A dispatcher that dies leaves its claims
            ``sending`` until the lease runs out; they are then recovered as
            ``unknown``. Keep it longer than a batch takes.
        batch: The most items claimed per pass.
        send_timeout: Seconds a send may take before it counts as ``unknown``
            (``None``: no limit).
        recheck_after: How long the suppression and consent facts read with a
            claim are trusted; a send that gets its slot later reads them again.
        surveys: Surveys to use instead of loading them from the store.
        sleep: Waits, for rate limits (a test's sleep may move a manual clock).
        rng: Draws the jitter.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        *,
        clock: Clock | None = None,
        worker_id: str | None = None,
        limits: Mapping[str, ChannelLimits] | None = None,
        default_limits: ChannelLimits | None = None,
        retry: RetryPolicy | None = None,
        lease: timedelta = timedelta(minutes=5),
        batch: int = 100,
        send_timeout: float | None = 30.0,
        recheck_after: timedelta = timedelta(seconds=5),
        surveys: Iterable[Survey] = (),
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if batch < 1:
            msg = f"batch: {batch} is not 1 or more"
            raise ValueError(msg)
        if lease <= timedelta(0):
            msg = f"lease: {lease} is not more than zero"
            raise ValueError(msg)
        if recheck_after < timedelta(0):
            msg = f"recheck_after: {recheck_after} is less than zero"
            raise ValueError(msg)
        self.store = store
        self.channels = dict(channels)
        self.clock: Clock = clock or SystemClock()
        self.worker_id = worker_id or _default_worker()
        self.limits = dict(limits or {})
        self.default_limits = default_limits or ChannelLimits()
        self.retry = retry or RetryPolicy()
        self.lease = lease
        self.batch = batch
        self.send_timeout = send_timeout
        self.recheck_after = recheck_after
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._surveys: dict[tuple[str, int], Survey] = {(s.id, s.version): s for s in surveys}
        self._loading: dict[tuple[str, int], asyncio.Future[Survey]] = {}
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._buckets: dict[str, TokenBucket | None] = {}
        self._passes = 0
        self._refused: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"Dispatcher(worker_id={self.worker_id!r}, channels={sorted(self.channels)!r})"

    # ------------------------------------------------------------ the pass

    async def recover(self, *, own: bool = False) -> list[OutboxItem]:
        """Hand back claims whose lease ran out, as ``unknown``: their dispatcher died mid-send.

        Call it at start-up (:meth:`run` does, and again on every pass). With
        *own*, also hand back every claim this worker id holds: at start-up
        they belong to an earlier process of this worker, which is gone, so
        there is no need to wait for their leases to run out.

        Returns:
            The items recovered.
        """
        now = self.clock.now()
        released = await self.store.release_expired(now=now, to=OutboxState.UNKNOWN)
        if own:
            released += await self.store.release_claims(
                self.worker_id, now=now, to=OutboxState.UNKNOWN
            )
        for item in released:
            log.warning(
                "outbox item %s was claimed by a dispatcher that stopped: now unknown", item.id
            )
        return released

    async def run_once(self, now: datetime | None = None) -> DispatchReport:
        """Claim the sends due at *now* (default: the clock's time), send them, record each end.

        Sends run concurrently, within each channel's concurrency cap and rate
        limit. One item's failure never stops the others. A pass that claimed
        anything logs how many items it left in each state, at ``INFO`` on the
        ``cxcore.dispatch`` logger.

        Returns:
            The outcome of every item claimed.

        Raises:
            ExceptionGroup: If the store failed to record some outcomes (after
                every other item was finished); those items stay ``sending``
                and are recovered as ``unknown`` when their lease runs out.
        """
        return await self._dispatch(await self._claim(now))

    async def _claim(self, now: datetime | None) -> list[ClaimedSend]:
        """Claim up to a batch of the sends due at *now* (default: the clock's time)."""
        return await self.store.claim_sends(
            self.worker_id,
            now=self.clock.now() if now is None else now,
            limit=self.batch,
            lease=self.lease,
            channels=list(self.channels),
            purpose=Purpose.SURVEY,
        )

    async def _dispatch(
        self, claimed: Sequence[ClaimedSend], tail: asyncio.Event | None = None
    ) -> DispatchReport:
        """Send what a pass claimed and record each end (see :meth:`run_once`).

        *tail* is set once no more of the pass's sends wait for a slot than
        half of them, or than its channels have slots if more (or when the
        pass ends).
        """
        if not claimed:
            return DispatchReport()
        this_pass = _Pass(
            _Finisher(self.store, self.worker_id),
            self.clock.now(),
            self._refused,
            waiting={send.item.id for send in claimed},
            tail=tail,
            tail_at=max(
                len(claimed) // 2, sum(self._limits(name).concurrency for name in self.channels)
            ),
        )
        if tail is not None and len(this_pass.waiting) <= this_pass.tail_at:
            tail.set()
        self._passes += 1
        try:
            results = await asyncio.gather(
                *(self._process(send, this_pass) for send in claimed), return_exceptions=True
            )
        finally:
            self._passes -= 1
            if not self._passes:  # the next claim reads the refusals from the store
                self._refused.clear()
            if tail is not None:
                tail.set()
        outcomes: list[DispatchOutcome] = []
        errors: list[Exception] = []
        for result in results:
            if isinstance(result, DispatchOutcome):
                outcomes.append(result)
            elif isinstance(result, Exception):
                errors.append(result)
            else:  # CancelledError, KeyboardInterrupt: not ours to swallow
                raise result
        if errors:
            msg = f"{len(errors)} of {len(claimed)} outbox items could not be finished"
            raise ExceptionGroup(msg, errors)
        report = DispatchReport(tuple(outcomes))
        log.info("dispatch pass: %s", report)  # counts per state: no personal data
        return report

    async def run(self, stop: asyncio.Event, *, interval: float = 1.0, passes: int = 2) -> None:
        """Send until *stop* is set: recover, reconcile, then pass after pass.

        After a pass that claimed a full batch, the next pass claims as soon
        as no more of the first's sends wait for a slot than half a batch (or
        than its channels have slots, if more), up to *passes* under way
        together. The next pass's sends then take the slots as the first's
        last sends end, instead of the slots idling while a pass records its
        last ends and the next one claims; and a claimed send waits behind
        at most half a batch of another pass's, so keep the lease longer
        than one and a half batches take. The caps hold across passes.

        After a pass that found less than a full batch it waits *interval*
        seconds (or until *stop*). Unknown sends are reconciled before every
        claim, for channels that implement :class:`DeliveryLookup`. Once
        *stop* is set, the passes under way end before it returns; if it is
        cancelled, so are they (their sends stay claimed, and are recovered
        as ``unknown``).

        Raises:
            ValueError: If *passes* is less than 1.
        """
        if passes < 1:
            msg = f"passes: {passes} is not 1 or more"
            raise ValueError(msg)
        await self.recover(own=True)
        running: set[asyncio.Task[DispatchReport]] = set()
        try:
            while not stop.is_set():
                await self.recover()
                await self.reconcile()  # one read of the unknown sends; nothing more if none
                claimed = await self._claim(None)
                tail = asyncio.Event()
                if claimed:
                    running.add(asyncio.create_task(self._dispatch(claimed, tail)))
                if len(claimed) < self.batch:
                    await _first(stop.wait(), at_most=interval)
                else:  # more may be due: claim again once this pass's tail begins
                    await _first(stop.wait(), tail.wait())
                    running = self._ended(running)
                    while len(running) >= passes and not stop.is_set():
                        await _first(stop.wait(), *running)
                        running = self._ended(running)
                running = self._ended(running)
        except BaseException:
            for task in running:
                task.cancel()
            raise
        finally:
            if running:
                await asyncio.wait(running)
                self._ended(running)

    @staticmethod
    def _ended(running: set[asyncio.Task[DispatchReport]]) -> set[asyncio.Task[DispatchReport]]:
        """The passes still under way. One that could not record every outcome is logged.

        Raises:
            BaseException: What else a pass that ended raised (it is not ours to swallow).
        """
        for task in [t for t in running if t.done() and not t.cancelled()]:
            error = task.exception()
            if isinstance(error, ExceptionGroup):
                log.error("a dispatch pass could not record every outcome", exc_info=error)
            elif error is not None:
                raise error
        return {t for t in running if not t.done()}

    # ------------------------------------------------------------ one item

    def _limits(self, channel: str) -> ChannelLimits:
        return self.limits.get(channel, self.default_limits)

    def _gate(self, channel: str) -> asyncio.Semaphore:
        gate = self._gates.get(channel)
        if gate is None:
            gate = self._gates[channel] = asyncio.Semaphore(self._limits(channel).concurrency)
        return gate

    def _bucket(self, channel: str) -> TokenBucket | None:
        if channel not in self._buckets:
            limits = self._limits(channel)
            self._buckets[channel] = (
                TokenBucket(limits.rate, limits.burst, clock=self.clock, sleep=self._sleep)
                if limits.rate is not None
                else None
            )
        return self._buckets[channel]

    async def _survey(self, invitation: Invitation) -> Survey:
        key = (invitation.survey_id, invitation.survey_version)
        survey = self._surveys.get(key)
        if survey is not None:
            return survey
        # The sends of a pass start together: one load per survey version, which
        # they all wait for, rather than one each before the first is back.
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self.store.survey(*key))
        try:
            survey = await asyncio.shield(loading)
        finally:
            if loading.done():
                self._loading.pop(key, None)
        self._surveys[key] = survey
        return survey

    async def _blocked(self, invitation: Invitation, channel: str) -> str | None:
        """Why *invitation* must not go out on *channel* now, read from the store, or ``None``."""
        address, customer = invitation.address, invitation.customer_id
        suppression = None if address is None else await self.store.suppression(address, channel)
        if suppression is not None:
            return _refusal(channel, suppression, ())
        consents = [
            await self.store.consent(person, channel, Purpose.SURVEY)
            for person in (customer, address)
            if person is not None
        ]
        return _refusal(channel, None, consents)

    async def _recheck(
        self, invitation: Invitation, channel: str, this_pass: _Pass, item_id: str
    ) -> str | None:
        """Why a send that got its slot must not go now after all, or ``None``."""
        this_pass.started(item_id)
        address = invitation.address
        if address is not None and (address, channel) in this_pass.refused:
            return _refusal(channel, f"{_SUPPRESS_REASON}, refused earlier in a pass under way", ())
        if self.clock.now() - this_pass.claimed_at > self.recheck_after:
            return await self._blocked(invitation, channel)
        return None

    async def _send(
        self,
        name: str,
        channel: Channel,
        message: OutboundMessage,
        recheck: Callable[[], Awaitable[str | None]],
    ) -> SendResult | str:
        """Send *message* within the channel's caps: the result, or why it must not go after all."""
        async with self._gate(name):
            bucket = self._bucket(name)
            if bucket is not None:
                await bucket.acquire()
            blocked = await recheck()
            if blocked is not None:
                if bucket is not None:  # nothing went: the slot is the next send's
                    bucket.give_back()
                return blocked
            if self.send_timeout is None:
                return await channel.send(message)
            async with asyncio.timeout(self.send_timeout):
                return await channel.send(message)

    async def _finish(
        self,
        item: OutboxItem,
        state: OutboxState,
        *,
        detail: str | None = None,
        provider_id: str | None = None,
        retry_at: datetime | None = None,
        disposition: Disposition | None = None,
        this_pass: _Pass | None = None,
        cost: EstimatedCost | None = None,
    ) -> DispatchOutcome:
        """Record an outcome and its disposition in one transaction.

        A send claimed in *this_pass* is finished only while this worker still
        holds it, batched with the pass's other ends; without a pass (an
        operator's decision, a reconciliation) it is finished whatever its state.
        """
        finish = Finish(
            item_id=item.id,
            state=state,
            at=self.clock.now(),
            provider_id=provider_id,
            error=detail,
            retry_at=retry_at,
            disposition=disposition,
            disposition_detail=provider_id or detail,
        )
        try:
            if this_pass is not None:
                await this_pass.finisher.finish(finish)
            else:
                (result,) = await self.store.finish_many([finish])
                if isinstance(result, StoreError):
                    raise result
        except ClaimLostError:
            # The lease ran out (the send was handed back as unknown) or an
            # operator decided meanwhile: what happened since stands.
            log.warning(
                "outbox item %s: claim lost before its outcome (%s) was recorded",
                item.id,
                state.value,
            )
            raise
        return DispatchOutcome(
            item_id=item.id,
            invitation_id=item.invitation_id,
            channel=item.channel,
            state=state,
            detail=detail,
            provider_id=provider_id,
            retry_at=retry_at,
            cost=cost,
        )

    async def _suppressed(self, item: OutboxItem, why: str, this_pass: _Pass) -> DispatchOutcome:
        """End *item* as ``suppressed`` (its invitation ``failed``), for *why*."""
        return await self._finish(
            item,
            OutboxState.SUPPRESSED,
            detail=why,
            disposition=Disposition.FAILED,
            this_pass=this_pass,
        )

    async def _failed(
        self, item: OutboxItem, why: str, this_pass: _Pass | None = None
    ) -> DispatchOutcome:
        """End *item* as ``failed`` (its invitation too), for *why*."""
        return await self._finish(
            item,
            OutboxState.FAILED,
            detail=why,
            disposition=Disposition.FAILED,
            this_pass=this_pass,
        )

    async def _retry(self, item: OutboxItem, why: str, this_pass: _Pass) -> DispatchOutcome:
        if self.retry.gives_up(item.attempts):
            return await self._failed(
                item, f"gave up after {item.attempts} attempts: {why}", this_pass
            )
        retry_at = self.clock.now() + self.retry.delay(item.attempts, self._rng)
        return await self._finish(
            item, OutboxState.PENDING, detail=why, retry_at=retry_at, this_pass=this_pass
        )

    async def _prepare(
        self, send: ClaimedSend, this_pass: _Pass
    ) -> tuple[Channel, Invitation, OutboundMessage] | DispatchOutcome:
        """The channel, invitation and rendered message, or the outcome that ends the item here."""
        item = send.item
        failed = OutboxState.FAILED
        channel = self.channels.get(item.channel)
        if channel is None:
            known = ", ".join(sorted(self.channels)) or "none"
            why = f"channel {item.channel!r} is not open in this dispatcher (open: {known})"
            return await self._retry(item, why, this_pass)
        invitation = send.invitation
        if invitation is None:
            why = send.problem or f"no invitation {item.invitation_id!r} is stored"
            return await self._finish(item, failed, detail=why, this_pass=this_pass)
        reminder = reminder_of(item)
        if reminder:
            invitation = attrs.evolve(invitation, reminder=reminder)
        now = self.clock.now()
        if invitation.expires_at is not None and now >= invitation.expires_at:
            why = (
                f"the invitation expired at {invitation.expires_at.isoformat()} before it was sent"
            )
            return await self._finish(
                item, failed, detail=why, disposition=Disposition.EXPIRED, this_pass=this_pass
            )
        blocked = _refusal(
            item.channel, send.suppression, (send.customer_consent, send.address_consent)
        )
        if blocked is not None:
            return await self._suppressed(item, blocked, this_pass)
        try:
            survey = await self._survey(invitation)
            message = channel.render(invitation, survey)
        except Exception as exc:  # noqa: BLE001 - rendering is pure: a retry gives the same error
            return await self._failed(item, f"cannot render: {_describe(exc)}", this_pass)
        return channel, invitation, message

    async def _process(self, send: ClaimedSend, this_pass: _Pass) -> DispatchOutcome:
        try:
            return await self._send_one(send, this_pass)
        finally:
            this_pass.started(send.item.id)  # if it ended before taking a slot

    async def _send_one(self, send: ClaimedSend, this_pass: _Pass) -> DispatchOutcome:
        prepared = await self._prepare(send, this_pass)
        if isinstance(prepared, DispatchOutcome):
            return prepared
        item = send.item
        channel, invitation, message = prepared
        try:
            result = await self._send(
                item.channel,
                channel,
                message,
                lambda: self._recheck(invitation, item.channel, this_pass, item.id),
            )
        except SendError as exc:
            why = _describe(exc)
            if exc.ambiguous:
                return await self._finish(
                    item, OutboxState.UNKNOWN, detail=why, this_pass=this_pass
                )
            if exc.suppress:
                if invitation.address is not None:
                    this_pass.refused.add((invitation.address, item.channel))
                    await self.store.suppress(invitation.address, item.channel, _SUPPRESS_REASON)
                return await self._suppressed(item, why, this_pass)
            if exc.retryable:
                return await self._retry(item, why, this_pass)
            return await self._failed(item, why, this_pass)
        except ChannelClosedError as exc:  # refused before reaching the provider
            return await self._retry(item, _describe(exc), this_pass)
        except TimeoutError:
            why = (
                f"no answer from the provider within {self.send_timeout} s; it may have accepted it"
            )
            return await self._finish(item, OutboxState.UNKNOWN, detail=why, this_pass=this_pass)
        except Exception as exc:  # noqa: BLE001 - the provider may have accepted it
            why = f"{type(exc).__name__}: {exc} (the provider may have accepted it)"
            return await self._finish(item, OutboxState.UNKNOWN, detail=why, this_pass=this_pass)
        if isinstance(result, str):  # suppressed, or consent withdrawn, since the claim
            return await self._suppressed(item, result, this_pass)
        return await self._finish(
            item,
            OutboxState.SENT,
            provider_id=result.provider_id,
            disposition=Disposition.SENT,
            this_pass=this_pass,
            cost=result.cost,
        )

    # ------------------------------------------------------------ unknown sends

    async def _unknown(self, item_id: str) -> OutboxItem:
        for item in await self.store.outbox(OutboxState.UNKNOWN):
            if item.id == item_id:
                return item
        states = {i.id: i.state for i in await self.store.outbox()}
        if item_id not in states:
            msg = f"item_id: no outbox item {item_id!r} is stored"
        else:
            msg = f"item_id: {item_id!r} is {states[item_id].value} (expected unknown)"
        raise DispatchError(msg)

    async def reconcile(self) -> ReconcileReport:
        """Settle ``unknown`` sends with the channels that can look them up.

        For each, a channel implementing :class:`DeliveryLookup` is asked
        about the same message rendered again: found, the send becomes
        ``sent``; certainly not found, it is re-queued at once. Sends whose
        channel cannot look up (or whose lookup fails) stay ``unknown`` for an
        operator to decide with :meth:`mark_sent` or :meth:`requeue`.
        """
        sent: list[DispatchOutcome] = []
        requeued: list[DispatchOutcome] = []
        unresolved: list[DispatchOutcome] = []
        for item in await self.store.outbox(OutboxState.UNKNOWN):
            channel = self.channels.get(item.channel)
            lookup: object = channel
            if channel is None or not isinstance(lookup, DeliveryLookup):
                why = f"channel {item.channel!r} cannot look up sends: an operator must decide"
                unresolved.append(self._still_unknown(item, why))
                continue
            try:
                invitation = await self.store.invitation(item.invitation_id)
                reminder = reminder_of(item)
                if reminder:
                    invitation = attrs.evolve(invitation, reminder=reminder)
                message = channel.render(invitation, await self._survey(invitation))
                found = await lookup.lookup(message)
            except Exception as exc:  # noqa: BLE001 - cannot tell: it stays unknown
                unresolved.append(self._still_unknown(item, f"lookup failed: {_describe(exc)}"))
                continue
            if found is not None:
                sent.append(
                    await self._finish(
                        item,
                        OutboxState.SENT,
                        detail="confirmed by the provider on reconciliation",
                        provider_id=found.provider_id,
                        disposition=Disposition.SENT,
                    )
                )
            else:
                requeued.append(
                    await self._finish(
                        item,
                        OutboxState.PENDING,
                        detail="the provider never accepted it: re-queued on reconciliation",
                        retry_at=self.clock.now(),
                    )
                )
        return ReconcileReport(tuple(sent), tuple(requeued), tuple(unresolved))

    @staticmethod
    def _still_unknown(item: OutboxItem, why: str) -> DispatchOutcome:
        return DispatchOutcome(
            item_id=item.id,
            invitation_id=item.invitation_id,
            channel=item.channel,
            state=OutboxState.UNKNOWN,
            detail=why,
        )

    async def mark_sent(
        self, item_id: str, *, provider_id: str | None = None, note: str = "marked sent"
    ) -> DispatchOutcome:
        """An operator's decision: the ``unknown`` send *item_id* did reach the provider.

        Raises:
            DispatchError: If there is no such item, or it is not ``unknown``.
        """
        item = await self._unknown(item_id)
        return await self._finish(
            item,
            OutboxState.SENT,
            detail=note,
            provider_id=provider_id,
            disposition=Disposition.SENT,
        )

    async def requeue(self, item_id: str, *, at: datetime | None = None) -> DispatchOutcome:
        """An operator's decision: the ``unknown`` send *item_id* never reached the provider.

        It is sent again, at *at* (default: now).

        Raises:
            DispatchError: If there is no such item, or it is not ``unknown``.
        """
        item = await self._unknown(item_id)
        return await self._finish(
            item,
            OutboxState.PENDING,
            detail="re-queued by an operator",
            retry_at=at or self.clock.now(),
        )

    async def mark_failed(self, item_id: str, *, reason: str) -> DispatchOutcome:
        """An operator's decision: give up on the ``unknown`` send *item_id*.

        Raises:
            DispatchError: If there is no such item, or it is not ``unknown``.
        """
        return await self._failed(await self._unknown(item_id), reason)
