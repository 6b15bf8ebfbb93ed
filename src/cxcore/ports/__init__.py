"""Ports: the protocols the core talks to the outside world through, and the channel registry."""

from cxcore.ports.channel import (
    AnswersReceived,
    Capabilities,
    Channel,
    InboundEvent,
    InboundMode,
    InboundRequest,
    OptOutReceived,
    OutboundMessage,
    SendResult,
    StatusReceived,
)
from cxcore.ports.clock import Clock, ManualClock, SystemClock
from cxcore.ports.registry import (
    ENTRY_POINT_GROUP,
    ChannelInfo,
    ChannelRegistry,
    channel_registry,
    get_channel,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnswersReceived",
    "Capabilities",
    "Channel",
    "ChannelInfo",
    "ChannelRegistry",
    "Clock",
    "InboundEvent",
    "InboundMode",
    "InboundRequest",
    "ManualClock",
    "OptOutReceived",
    "OutboundMessage",
    "SendResult",
    "StatusReceived",
    "SystemClock",
    "channel_registry",
    "get_channel",
]
