"""E.164 phone numbers: checked at the edge, masked in logs."""

from __future__ import annotations

import re

from cxcore_channels.sms.errors import PhoneNumberError

__all__ = ["WHATSAPP_PREFIX", "check_e164", "mask_number", "strip_channel_prefix"]

WHATSAPP_PREFIX = "whatsapp:"
"""How Twilio writes a WhatsApp address: ``whatsapp:+919812345678``."""

_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def check_e164(number: object, where: str) -> str:
    """*number* if it is an E.164 phone number, else an error naming *where*.

    >>> check_e164("+919812345678", "row 3, column 'phone'")
    '+919812345678'
    >>> check_e164("09812345678", "row 4, column 'phone'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cxcore_channels.sms.errors.PhoneNumberError: row 4, column 'phone': '09812345678' is not ...

    Args:
        number: The number to check.
        where: What held it (a row, an invitation, a setting), for the message.

    Raises:
        PhoneNumberError: If it is not a string of ``+`` then 8 to 15 digits.

    .. versionadded:: 0.1.0
    """
    if not isinstance(number, str) or not _E164.fullmatch(number):
        shown = number if isinstance(number, str) and len(number) <= 40 else type(number).__name__
        msg = (
            f"{where}: {shown!r} is not an E.164 phone number "
            "(expected '+', the country code, then the number: '+919812345678')"
        )
        raise PhoneNumberError(msg)
    return number


def strip_channel_prefix(address: str) -> str:
    """The phone number of a Twilio address (``whatsapp:+91...`` gives ``+91...``)."""
    return address.removeprefix(WHATSAPP_PREFIX)


def mask_number(number: str | None) -> str:
    """A phone number fit for logs: country code and last two digits only.

    >>> mask_number("+919812345678")
    '+91********78'
    """
    if not number:
        return "<none>"
    digits = strip_channel_prefix(number)
    return digits[:3] + "*" * max(0, len(digits) - 5) + digits[-2:]
