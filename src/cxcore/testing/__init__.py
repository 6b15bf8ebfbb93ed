"""Test helpers for cxcore users and plugin authors.

* :class:`FakeChannel`: a complete channel that records deliveries.
* :func:`capture_deliveries`: collect what fake channels deliver in a block.
* :func:`fake_channels`: serve fakes in place of the installed channels.
* :class:`ChannelConformance`: the test suite every channel must pass.
* :mod:`cxcore.testing.strategies`: Hypothesis strategies for the model
  (imported on its own, so Hypothesis is needed only when you use it).
* :func:`sample_surveys`, :func:`sample_invitation`: ready-made data;
  :func:`signed_invitation`: one with real tokens, for tests of what comes back.
* :func:`postgres_schema`: a fresh PostgreSQL schema, dropped afterwards.
"""

from cxcore.testing.conformance import ChannelConformance, ChannelHarness
from cxcore.testing.fake import Delivery, FakeChannel, capture_deliveries, fake_channels
from cxcore.testing.postgres import postgres_schema
from cxcore.testing.samples import (
    SAMPLE_TIME,
    sample_invitation,
    sample_surveys,
    signed_invitation,
)

__all__ = [
    "SAMPLE_TIME",
    "ChannelConformance",
    "ChannelHarness",
    "Delivery",
    "FakeChannel",
    "capture_deliveries",
    "fake_channels",
    "postgres_schema",
    "sample_invitation",
    "sample_surveys",
    "signed_invitation",
]
