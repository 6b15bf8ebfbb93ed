"""The SMS and WhatsApp channels: Twilio's Messages API, through the twilio SDK's async client.

Registered under the entry-point group ``cxcore.channels`` as ``sms`` and
``whatsapp``. Create one with its settings:

.. code-block:: python

    channel = SmsChannel(
        account_sid="AC...",
        auth_token="...",
        from_number="+14155550100",
        base_url="https://cx.example.in",
        inbound_url="https://cx.example.in/c/sms",
    )

The text tools (segments, DLT templates, prices, keywords) need nothing but
cxcore. The channels and their transport need the twilio SDK (``pip install
'cxcore[sms]'``): they are imported on first use, so the text tools work, and
``cxcore channels`` says what to install, where twilio is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cxcore_channels.sms.cost import EXAMPLE_PRICES, PriceTable
from cxcore_channels.sms.dlt import (
    DltApproval,
    DltError,
    DltMismatchError,
    DltRegistration,
    DltTemplate,
    check_dlt,
    requires_dlt,
)
from cxcore_channels.sms.errors import PhoneNumberError, SmsConfigError
from cxcore_channels.sms.keywords import (
    HELP_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Keyword,
    keyword_of,
)
from cxcore_channels.sms.numbers import check_e164, mask_number
from cxcore_channels.sms.segments import (
    Encoding,
    Forcing,
    Segments,
    SmsTextError,
    TooManySegmentsError,
    check_segments,
    check_survey_texts,
    count_segments,
)
from cxcore_channels.sms.texts import SmsTexts

if TYPE_CHECKING:
    from cxcore_channels.sms.channel import PERMANENT_ERRORS, SmsChannel, WhatsAppChannel
    from cxcore_channels.sms.transport import NotSentError, TwilioTransport

# The names that need the twilio SDK, by the module that defines them.
_TWILIO = {
    "PERMANENT_ERRORS": "cxcore_channels.sms.channel",
    "SmsChannel": "cxcore_channels.sms.channel",
    "WhatsAppChannel": "cxcore_channels.sms.channel",
    "NotSentError": "cxcore_channels.sms.transport",
    "TwilioTransport": "cxcore_channels.sms.transport",
}

__all__ = [
    "EXAMPLE_PRICES",
    "HELP_WORDS",
    "OPT_IN_WORDS",
    "OPT_OUT_WORDS",
    "PERMANENT_ERRORS",
    "DltApproval",
    "DltError",
    "DltMismatchError",
    "DltRegistration",
    "DltTemplate",
    "Encoding",
    "Forcing",
    "Keyword",
    "NotSentError",
    "PhoneNumberError",
    "PriceTable",
    "Segments",
    "SmsChannel",
    "SmsConfigError",
    "SmsTextError",
    "SmsTexts",
    "TooManySegmentsError",
    "TwilioTransport",
    "WhatsAppChannel",
    "check_dlt",
    "check_e164",
    "check_segments",
    "check_survey_texts",
    "count_segments",
    "keyword_of",
    "mask_number",
    "requires_dlt",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the lazy name is
    module = _TWILIO.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        from cxcore.scoring import MissingDependencyError  # noqa: PLC0415 - only on failure

        missing = exc.name or "twilio"
        raise MissingDependencyError(
            "twilio", f"the SMS and WhatsApp channels ({name}, which imports {missing!r})"
        ) from exc
    globals()[name] = value
    return value
