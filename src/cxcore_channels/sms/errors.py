"""The SMS channel's errors, under cxcore's one root error."""

from __future__ import annotations

from cxcore import ChannelError

__all__ = ["PhoneNumberError", "SmsConfigError"]


class SmsConfigError(ChannelError, ValueError):
    """A setting of the SMS or WhatsApp channel cannot be used; the message names it.

    .. versionadded:: 0.1.0
    """


class PhoneNumberError(ChannelError, ValueError):
    """A phone number is not in E.164 form (``+`` then 8 to 15 digits, no leading zero).

    .. versionadded:: 0.1.0
    """
