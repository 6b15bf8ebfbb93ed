"""The collector's link scheme: survey pages, one-click answers, unsubscribe and AMP forms.

Links carry cxcore's own signed tokens (:class:`~cxcore.distribution.TokenService`),
never an address, so every channel that sends a link (an email, an SMS, a QR
code on a receipt) uses this one scheme, and the collector serves it. Every link
points at the collector's public ``base_url``:

=============================================  ======  =================================
URL                                            method  meaning
=============================================  ======  =================================
``{base_url}/s/{token}``                       GET     the survey page
``{base_url}/l/{short_code}``                  GET     a short link to the survey page
``{base_url}/s/{token}?q.<question>=<value>``  GET     a one-click answer (partial)
``{base_url}/u/{unsubscribe_token}``           POST    RFC 8058 one-click unsubscribe
``{base_url}/amp/{amp_token}``                 POST    the AMP form: ``q.<question>``
=============================================  ======  =================================

A field named ``q.<question>[]`` (multiple choice) always gives a tuple, even of one option.

Tokens are signed elsewhere; here they are only quoted into one path segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, unquote, urlsplit

import attrs

from cxcore.errors import CxError, InboundError
from cxcore.model.survey import AnswerValue
from cxcore.ports.channel import AnswersReceived, InboundEvent, InboundRequest, OptOutReceived

__all__ = ["ONE_CLICK_BODY", "LinkError", "SurveyLinks", "answers_from_fields"]

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
"""The body (and ``List-Unsubscribe-Post`` value) of an RFC 8058 one-click unsubscribe."""


class LinkError(CxError, ValueError):
    """A base URL cannot carry survey links.

    .. versionadded:: 0.1.0
    """


def _strip_slash(url: str) -> str:
    return str(url).rstrip("/")


def _segment(token: str) -> str:
    return quote(token, safe="")


@attrs.frozen
class SurveyLinks:
    """Builds the links of one collector, and reads the requests they produce.

    Args:
        base_url: The collector's public URL, ``https://`` (AMP forms require it),
            or ``http://`` for local trials without AMP.

    Raises:
        LinkError: If *base_url* is not an absolute http(s) URL without a
            query or fragment.

    .. versionadded:: 0.1.0
    """

    base_url: str = attrs.field(converter=_strip_slash)

    def __attrs_post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            msg = f"base_url: {self.base_url!r} is not an absolute http(s) URL"
            raise LinkError(msg)
        if parts.query or parts.fragment:
            msg = f"base_url: {self.base_url!r} has a query or fragment (expected neither)"
            raise LinkError(msg)

    @property
    def secure(self) -> bool:
        """Whether the links are ``https``."""
        return self.base_url.startswith("https://")

    def survey(self, token: str) -> str:
        """The survey page of the invitation with *token*."""
        return f"{self.base_url}/s/{_segment(token)}"

    def short(self, short_code: str) -> str:
        """The short link of the invitation with *short_code*: it leads to the survey page.

        For an SMS, where the link's length is paid for (``/s/<token>`` is
        about 85 characters longer), and for a DLT template variable, which
        holds at most 30 characters.
        """
        return f"{self.base_url}/l/{_segment(short_code)}"

    def answer(self, token: str, question_id: str, value: int | str) -> str:
        """The one-click link that records *value* for *question_id*."""
        return f"{self.survey(token)}?q.{quote(question_id, safe='')}={quote(str(value), safe='')}"

    def answer_prefix(self, token: str, question_id: str) -> str:
        """The one-click link of *question_id* without its value: append a quoted value."""
        return f"{self.survey(token)}?q.{quote(question_id, safe='')}="

    def unsubscribe(self, unsubscribe_token: str) -> str:
        """The one-click unsubscribe URL (``List-Unsubscribe``)."""
        return f"{self.base_url}/u/{_segment(unsubscribe_token)}"

    def amp_action(self, amp_token: str) -> str:
        """The ``action-xhr`` of the AMP form."""
        return f"{self.base_url}/amp/{_segment(amp_token)}"

    # -- inbound ----------------------------------------------------------------

    def parse(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Read a one-click answer, an AMP form post or a one-click unsubscribe.

        Raises:
            InboundError: If the URL is not one of the scheme's, or carries no answer.
        """
        kind, token = self._route(request.url)
        method = request.method.upper()
        if kind == "u":
            if method != "POST":
                msg = (
                    f"{method} of an unsubscribe link is a page view (mail scanners follow "
                    "links); only a POST unsubscribes"
                )
                raise InboundError(msg)
            body = request.body.decode("utf-8", "replace").strip()
            if body != ONE_CLICK_BODY:
                msg = f"unsubscribe POST body is {body[:60]!r} (expected {ONE_CLICK_BODY!r})"
                raise InboundError(msg)
            # A one-click URL carries only the signed unsubscribe token: the
            # collector verifies it and finds the invitation, and the address.
            return [OptOutReceived(token=token, keyword=ONE_CLICK_BODY)]
        if kind == "s":
            if method != "GET":
                msg = f"a one-click answer is a GET (got {method})"
                raise InboundError(msg)
            answers = answers_from_fields(request.query(), drop_empty=False)
            if not answers:
                msg = "the survey link carries no answer (expected a q.<question id> parameter)"
                raise InboundError(msg)
            return [AnswersReceived(token=token, answers=answers, complete=False)]
        if method != "POST":
            msg = f"the AMP form posts (got {method})"
            raise InboundError(msg)
        answers = answers_from_fields(request.form(), drop_empty=True)
        if not answers:
            msg = "the AMP form post carries no answer (expected q.<question id> fields)"
            raise InboundError(msg)
        return [AnswersReceived(token=token, answers=answers, complete=True)]

    def route(self, url: str) -> tuple[str, str]:
        """Which kind of link *url* is (``"s"``, ``"u"`` or ``"amp"``), and its token.

        Raises:
            InboundError: If *url* is not one of the scheme's links.
        """
        return self._route(url)

    def _route(self, url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path.startswith(
            base.path + "/"
        ):
            msg = f"URL path {parts.path!r} is not under the collector's base URL {self.base_url!r}"
            raise InboundError(msg)
        rest = parts.path[len(base.path) + 1 :].split("/")
        if len(rest) != 2 or rest[0] not in ("s", "u", "amp") or not rest[1]:
            msg = (
                f"URL path {parts.path!r} is not a survey, unsubscribe or AMP link "
                "(expected /s/<token>, /u/<token> or /amp/<token>)"
            )
            raise InboundError(msg)
        return rest[0], unquote(rest[1])


def answers_from_fields(
    fields: dict[str, list[str]], *, drop_empty: bool
) -> dict[str, AnswerValue]:
    """The answers in form or query fields named ``q.<question id>`` (other fields are ignored).

    A whole number becomes an ``int``; a field named ``q.<question id>[]``,
    or given more than once, a tuple. With *drop_empty*, an empty field is an
    optional question left blank; without it, an empty field is an error.

    >>> answers_from_fields({"q.ltr": ["9"], "q.why[]": ["price"], "lang": ["hi"]}, drop_empty=True)
    {'ltr': 9, 'why': ('price',)}

    Raises:
        InboundError: If a field names no question, or is empty without *drop_empty*.

    .. versionadded:: 0.1.0
    """
    answers: dict[str, AnswerValue] = {}
    for key, values in fields.items():
        if not key.startswith("q."):
            continue  # __amp_source_origin and the like
        many = key.endswith("[]")  # multiple choice: always a tuple, even of one
        question_id = key[2:-2] if many else key[2:]
        if not question_id:
            msg = f"field {key!r} names no question"
            raise InboundError(msg)
        kept = [v for v in values if v]
        if not drop_empty and len(kept) != len(values):
            msg = f"field {key!r} is empty (expected a value)"
            raise InboundError(msg)
        if not kept:
            continue  # an optional form field left empty
        if many or len(kept) > 1:
            answers[question_id] = tuple(kept)
        else:
            value = kept[0]
            answers[question_id] = int(value) if _is_int(value) else value
    return answers


def _is_int(value: str) -> bool:
    digits = value.removeprefix("-")
    return digits.isascii() and digits.isdigit() and len(digits) < 10
