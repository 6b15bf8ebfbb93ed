"""The errors the email channel raises besides cxcore's own."""

from __future__ import annotations

from cxcore import ChannelError

__all__ = ["EmailAddressError", "EmailConfigError", "EmailTemplateError"]


class EmailTemplateError(ChannelError):
    """A survey email template is broken, or tried to leave its sandbox.

    Raised for syntax errors when templates are loaded, and for anything a
    template does wrong while rendering: an undefined name, reading
    ``__class__`` or ``__globals__``, a ``range`` or repetition too large to
    be a survey, or any other error the template raises.

    Args:
        template: Which template: ``"html"``, ``"amp"``, ``"text"`` or ``"subject"``.
        reason: What went wrong.

    .. versionadded:: 0.1.0
    """

    def __init__(self, template: str, reason: str) -> None:
        self.template = template
        self.reason = reason
        super().__init__(f"email template {template!r}: {reason}")


class EmailConfigError(ChannelError, ValueError):
    """The email channel was configured with a value it cannot use.

    The message names the setting, the value and what was expected.

    .. versionadded:: 0.1.0
    """


class EmailAddressError(ChannelError, ValueError):
    """An address cannot be put in an email header or an SMTP envelope.

    The message shows the address masked (``a***@example.in``): addresses are
    personal data.

    .. versionadded:: 0.1.0
    """
