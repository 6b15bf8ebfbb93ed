"""The email channel: survey invitations with one-click scores and AMP for Email forms.

Register it (cxcore does, under the entry-point group ``cxcore.channels``) and
create it with its settings:

.. code-block:: python

    channel = EmailChannel(
        base_url="https://cx.example.in/r",
        sender="surveys@example.in",
        host="smtp.example.in",
        username="surveys",
        password="...",
    )
"""

from cxcore_channels.email.bounces import (
    DeliveryReport,
    RecipientStatus,
    Verp,
    parse_dsn,
    verp_decode,
    verp_encode,
)
from cxcore_channels.email.channel import EmailChannel
from cxcore_channels.email.dkim import DkimSigner
from cxcore_channels.email.errors import EmailAddressError, EmailConfigError, EmailTemplateError
from cxcore_channels.email.links import SurveyLinks
from cxcore_channels.email.mime import Mailbox, build_message
from cxcore_channels.email.pool import PoolDelivery, SmtpPool
from cxcore_channels.email.render import (
    AMP_MAX_BYTES,
    EmailTemplates,
    RenderedEmail,
    SurveyRenderer,
    survey_context,
)

__all__ = [
    "AMP_MAX_BYTES",
    "DeliveryReport",
    "DkimSigner",
    "EmailAddressError",
    "EmailChannel",
    "EmailConfigError",
    "EmailTemplateError",
    "EmailTemplates",
    "Mailbox",
    "PoolDelivery",
    "RecipientStatus",
    "RenderedEmail",
    "SmtpPool",
    "SurveyLinks",
    "SurveyRenderer",
    "Verp",
    "build_message",
    "parse_dsn",
    "survey_context",
    "verp_decode",
    "verp_encode",
]
