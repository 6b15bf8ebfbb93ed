"""Dispatch: the outbox, and the dispatcher that sends what it owes.

This is the services layer of distribution. :class:`Outbox` writes each
invitation the rules decide on, with its signed tokens, and its outbox item,
so that a crash never loses or doubles a send. :class:`Dispatcher` claims due
items, sends each through its channel within the channel's caps, and records
how each ended: ``sent``, ``pending`` (a retry, with backoff), ``failed``,
``suppressed``, or ``unknown`` (the provider may have it: reconcile, never
re-send blindly). ``cxcore send`` drives both for a list of customers.
"""

from cxcore.dispatch.dispatcher import (
    DeliveryLookup,
    Dispatcher,
    DispatchError,
    DispatchOutcome,
    DispatchReport,
    ReconcileReport,
)
from cxcore.dispatch.limits import ChannelLimits, Sleep, TokenBucket
from cxcore.dispatch.outbox import (
    Outbox,
    Scheduled,
    ScheduleError,
    ScheduleRequest,
    outbox_item_id,
    reminder_of,
)
from cxcore.dispatch.retry import RetryPolicy

__all__ = [
    "ChannelLimits",
    "DeliveryLookup",
    "DispatchError",
    "DispatchOutcome",
    "DispatchReport",
    "Dispatcher",
    "Outbox",
    "ReconcileReport",
    "RetryPolicy",
    "ScheduleError",
    "ScheduleRequest",
    "Scheduled",
    "Sleep",
    "TokenBucket",
    "outbox_item_id",
    "reminder_of",
]
