"""The collector: the ASGI app that takes answers, opt-outs and delivery events back in.

It needs the ``server`` extra (Starlette). Mount :class:`Collector` in your own
Starlette or FastAPI app, or run it with ``cxcore serve``. Every route hands
what it reads to :class:`cxcore.intake.Intake`; the collector itself only
speaks HTTP.

The names below are imported on first use: the ``cxcore`` command registers
``serve`` and ``keys`` without loading Starlette for every other command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxcore.collector.app import Collector
    from cxcore.collector.live import LiveScores
    from cxcore.collector.security import CONTENT_SECURITY_POLICY, AccessLog, RateLimits
    from cxcore.collector.widget import WidgetApp

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "AccessLog",
    "Collector",
    "LiveScores",
    "RateLimits",
    "WidgetApp",
]

_WHERE = {
    "CONTENT_SECURITY_POLICY": "cxcore.collector.security",
    "AccessLog": "cxcore.collector.security",
    "Collector": "cxcore.collector.app",
    "LiveScores": "cxcore.collector.live",
    "RateLimits": "cxcore.collector.security",
    "WidgetApp": "cxcore.collector.widget",
}


def __getattr__(name: str) -> Any:  # noqa: ANN401 - any of the names above
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'cxcore.collector' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
