"""Ports: the protocols the core talks to the outside world through, and the channel registry."""

from cxcore.ports.channel import (
    AnswersReceived,
    Capabilities,
    Channel,
    EstimatedCost,
    InboundEvent,
    InboundMode,
    InboundRequest,
    OptOutReceived,
    OutboundMessage,
    SendResult,
    StatusReceived,
    SurveyCheck,
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
    "EstimatedCost",
    "InboundEvent",
    "InboundMode",
    "InboundRequest",
    "ManualClock",
    "OptOutReceived",
    "OutboundMessage",
    "SendResult",
    "StatusReceived",
    "SurveyCheck",
    "SystemClock",
    "channel_registry",
    "get_channel",
]
