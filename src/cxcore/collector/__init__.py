"""The collector: the ASGI app that takes answers, opt-outs and delivery events back in.

It needs the ``server`` extra (Starlette). Mount :class:`Collector` in your own
Starlette or FastAPI app, or run it with ``cxcore serve``. Every route hands
what it reads to :class:`cxcore.intake.Intake`; the collector itself only
speaks HTTP.
"""

from cxcore.collector.app import Collector
from cxcore.collector.live import LiveScores
from cxcore.collector.security import CONTENT_SECURITY_POLICY, AccessLog, RateLimits

__all__ = ["CONTENT_SECURITY_POLICY", "AccessLog", "Collector", "LiveScores", "RateLimits"]
