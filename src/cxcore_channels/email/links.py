"""The email channel's links: the collector's link scheme (:mod:`cxcore.links`).

Survey emails link to the collector's survey pages, one-click answers,
one-click unsubscribe and AMP form endpoint; this module only turns a bad
``base_url`` into :class:`~cxcore_channels.email.EmailConfigError`.
"""

from __future__ import annotations

import attrs

from cxcore.links import ONE_CLICK_BODY, LinkError
from cxcore.links import SurveyLinks as _CollectorLinks
from cxcore_channels.email.errors import EmailConfigError

__all__ = ["ONE_CLICK_BODY", "SurveyLinks"]


@attrs.frozen
class SurveyLinks(_CollectorLinks):
    """The collector's links (:class:`cxcore.links.SurveyLinks`), for the email channel.

    Raises:
        EmailConfigError: If *base_url* is not an absolute http(s) URL without
            a query or fragment.

    .. versionadded:: 0.1.0
    """

    def __attrs_post_init__(self) -> None:
        try:
            super().__attrs_post_init__()
        except LinkError as exc:
            raise EmailConfigError(str(exc)) from exc
