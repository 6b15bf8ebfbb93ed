"""The dispatcher: claims due sends, sends them through their channels, records how each ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from cxcore.dispatch.limits import ChannelLimits, Sleep, TokenBucket
from cxcore.dispatch.outbox import reminder_of
from cxcore.dispatch.retry import RetryPolicy
from cxcore.errors import ChannelClosedError, CxError, SendError
from cxcore.model.customer import Purpose
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.survey import Survey
from cxcore.ports.channel import Channel, OutboundMessage, SendResult
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.store import ClaimLostError, OutboxItem, OutboxState, Store, StoreError

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


@runtime_checkable
class DeliveryLookup(Protocol):
    """A channel that can ask its provider whether it accepted a message.

    Channels may implement it (it is not part of :class:`~cxcore.Channel`); the
    dispatcher uses it to reconcile ``unknown`` sends. The message passed is
    rendered again from the same invitation, so it is the one sent: a channel
    finds it by whatever it derived from it (a Message-ID, an idempotency key).

    .. versionadded:: 0.1.0
    """

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        """The provider's record of *message*, or ``None`` if it certainly never accepted it.

        Raises:
            Exception: If the provider cannot tell; the send stays ``unknown``.
        """
        ...


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

    .. versionadded:: 0.1.0
    """

    item_id: str
    invitation_id: str
    channel: str
    state: OutboxState
    detail: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None


@attrs.frozen
class DispatchReport:
    """What one :meth:`Dispatcher.run_once` pass did, item by item.

    ``str(report)`` counts the outcomes per state.

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

    def __str__(self) -> str:
        counts = Counter(o.state for o in self.outcomes)
        parts = [f"{counts[s]} {s.value}" for s in OutboxState if counts[s]]
        return f"{len(self.outcomes)} claimed: " + (", ".join(parts) if parts else "nothing due")


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
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._surveys: dict[tuple[str, int], Survey] = {(s.id, s.version): s for s in surveys}
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._buckets: dict[str, TokenBucket | None] = {}

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
        limit. One item's failure never stops the others.

        Returns:
            The outcome of every item claimed.

        Raises:
            ExceptionGroup: If the store failed to record some outcomes (after
                every other item was finished); those items stay ``sending``
                and are recovered as ``unknown`` when their lease runs out.
        """
        now = self.clock.now() if now is None else now
        items = await self.store.claim(
            self.worker_id,
            now=now,
            limit=self.batch,
            lease=self.lease,
            channels=list(self.channels),
        )
        if not items:
            return DispatchReport()
        results = await asyncio.gather(
            *(self._process(item) for item in items), return_exceptions=True
        )
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
            msg = f"{len(errors)} of {len(items)} outbox items could not be finished"
            raise ExceptionGroup(msg, errors)
        return DispatchReport(tuple(outcomes))

    async def run(self, stop: asyncio.Event, *, interval: float = 1.0) -> None:
        """Send until *stop* is set: recover, reconcile, then pass after pass.

        Between passes that found less than a full batch it waits *interval*
        seconds (or until *stop*). Unknown sends are reconciled on every pass
        for channels that implement :class:`DeliveryLookup`.
        """
        await self.recover(own=True)
        while not stop.is_set():
            await self.recover()
            if await self.store.outbox(OutboxState.UNKNOWN):
                await self.reconcile()
            try:
                report = await self.run_once()
            except ExceptionGroup:
                log.exception("a dispatch pass could not record every outcome")
                report = DispatchReport()
            if len(report) < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

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
        if survey is None:
            survey = self._surveys[key] = await self.store.survey(*key)
        return survey

    async def _blocked(self, invitation: Invitation) -> str | None:
        """Why *invitation* must not go out now (suppressed, consent withdrawn), or ``None``."""
        channel = invitation.channel
        if invitation.address is not None:
            why = await self.store.suppression(invitation.address, channel)
            if why is not None:
                return f"the address is suppressed on {channel!r} ({why})"
        for person in (invitation.customer_id, invitation.address):
            if person is None:
                continue
            consent = await self.store.consent(person, channel, Purpose.SURVEY)
            if consent is not None and not consent.granted:
                return (
                    f"consent to surveys on {channel!r} was withdrawn "
                    f"({consent.source}, {consent.recorded_at.isoformat()})"
                )
        return None

    async def _send(self, name: str, channel: Channel, message: OutboundMessage) -> SendResult:
        async with self._gate(name):
            bucket = self._bucket(name)
            if bucket is not None:
                await bucket.acquire()
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
        claimed: bool = True,
    ) -> DispatchOutcome:
        """Record an outcome; a claimed send's only while this worker still holds it."""
        at = self.clock.now()
        try:
            await self.store.finish(
                item.id,
                state,
                at=at,
                provider_id=provider_id,
                error=detail,
                retry_at=retry_at,
                worker=self.worker_id if claimed else None,
            )
        except ClaimLostError:
            # The lease ran out (the send was handed back as unknown) or an
            # operator decided meanwhile: what happened since stands.
            log.warning(
                "outbox item %s: claim lost before its outcome (%s) was recorded",
                item.id,
                state.value,
            )
            raise
        if disposition is not None:
            await self.store.record_disposition(
                item.invitation_id, disposition, at, detail=provider_id or detail
            )
        return DispatchOutcome(
            item_id=item.id,
            invitation_id=item.invitation_id,
            channel=item.channel,
            state=state,
            detail=detail,
            provider_id=provider_id,
            retry_at=retry_at,
        )

    async def _retry(self, item: OutboxItem, why: str) -> DispatchOutcome:
        if self.retry.gives_up(item.attempts):
            return await self._finish(
                item,
                OutboxState.FAILED,
                detail=f"gave up after {item.attempts} attempts: {why}",
                disposition=Disposition.FAILED,
            )
        retry_at = self.clock.now() + self.retry.delay(item.attempts, self._rng)
        return await self._finish(item, OutboxState.PENDING, detail=why, retry_at=retry_at)

    async def _prepare(
        self, item: OutboxItem
    ) -> tuple[Channel, Invitation, OutboundMessage] | DispatchOutcome:
        """The channel, invitation and rendered message, or the outcome that ends the item here."""
        failed = OutboxState.FAILED
        channel = self.channels.get(item.channel)
        if channel is None:
            known = ", ".join(sorted(self.channels)) or "none"
            why = f"channel {item.channel!r} is not open in this dispatcher (open: {known})"
            return await self._retry(item, why)
        try:
            invitation = await self.store.invitation(item.invitation_id)
        except StoreError as exc:
            return await self._finish(item, failed, detail=str(exc))
        reminder = reminder_of(item)
        if reminder:
            invitation = attrs.evolve(invitation, reminder=reminder)
        now = self.clock.now()
        if invitation.expires_at is not None and now >= invitation.expires_at:
            why = (
                f"the invitation expired at {invitation.expires_at.isoformat()} before it was sent"
            )
            return await self._finish(item, failed, detail=why, disposition=Disposition.EXPIRED)
        blocked = await self._blocked(invitation)
        if blocked is not None:
            return await self._finish(
                item, OutboxState.SUPPRESSED, detail=blocked, disposition=Disposition.FAILED
            )
        try:
            survey = await self._survey(invitation)
            message = channel.render(invitation, survey)
        except Exception as exc:  # noqa: BLE001 - rendering is pure: a retry gives the same error
            why = f"cannot render: {_describe(exc)}"
            return await self._finish(item, failed, detail=why, disposition=Disposition.FAILED)
        return channel, invitation, message

    async def _process(self, item: OutboxItem) -> DispatchOutcome:
        prepared = await self._prepare(item)
        if isinstance(prepared, DispatchOutcome):
            return prepared
        channel, invitation, message = prepared
        try:
            result = await self._send(item.channel, channel, message)
        except SendError as exc:
            why = _describe(exc)
            if exc.ambiguous:
                return await self._finish(item, OutboxState.UNKNOWN, detail=why)
            if exc.suppress:
                if invitation.address is not None:
                    await self.store.suppress(invitation.address, item.channel, _SUPPRESS_REASON)
                return await self._finish(
                    item, OutboxState.SUPPRESSED, detail=why, disposition=Disposition.FAILED
                )
            if exc.retryable:
                return await self._retry(item, why)
            return await self._finish(
                item, OutboxState.FAILED, detail=why, disposition=Disposition.FAILED
            )
        except ChannelClosedError as exc:  # refused before reaching the provider
            return await self._retry(item, _describe(exc))
        except TimeoutError:
            why = (
                f"no answer from the provider within {self.send_timeout} s; it may have accepted it"
            )
            return await self._finish(item, OutboxState.UNKNOWN, detail=why)
        except Exception as exc:  # noqa: BLE001 - the provider may have accepted it
            why = f"{type(exc).__name__}: {exc} (the provider may have accepted it)"
            return await self._finish(item, OutboxState.UNKNOWN, detail=why)
        return await self._finish(
            item, OutboxState.SENT, provider_id=result.provider_id, disposition=Disposition.SENT
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
                        claimed=False,
                    )
                )
            else:
                requeued.append(
                    await self._finish(
                        item,
                        OutboxState.PENDING,
                        detail="the provider never accepted it: re-queued on reconciliation",
                        retry_at=self.clock.now(),
                        claimed=False,
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
            claimed=False,
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
            claimed=False,
        )

    async def mark_failed(self, item_id: str, *, reason: str) -> DispatchOutcome:
        """An operator's decision: give up on the ``unknown`` send *item_id*.

        Raises:
            DispatchError: If there is no such item, or it is not ``unknown``.
        """
        item = await self._unknown(item_id)
        return await self._finish(
            item, OutboxState.FAILED, detail=reason, disposition=Disposition.FAILED, claimed=False
        )
