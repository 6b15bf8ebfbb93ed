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
"""

from cxcore_channels.sms.channel import PERMANENT_ERRORS, SmsChannel, WhatsAppChannel
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
from cxcore_channels.sms.transport import NotSentError, TwilioTransport

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
