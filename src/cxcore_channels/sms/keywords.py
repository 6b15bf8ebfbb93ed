"""The keywords a whole SMS or WhatsApp message can be: opting out, back in, asking for help.

A keyword is the whole message, in any case, with surrounding whitespace (and
a final full stop or exclamation mark) ignored: ``" stop "`` and ``"Stop."`` opt
out, ``"stop sending"`` and ``"please stop"`` are replies like any other. This is
the carriers' rule (CTIA), which Twilio applies too.
"""

from __future__ import annotations

import enum
import unicodedata

__all__ = ["HELP_WORDS", "OPT_IN_WORDS", "OPT_OUT_WORDS", "Keyword", "keyword_of"]

OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"}
)
"""Whole messages that opt the number out of every SMS sender."""

OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
"""Whole messages that opt the number back in."""

HELP_WORDS = frozenset({"HELP", "INFO"})
"""Whole messages that ask for the help text."""


class Keyword(enum.StrEnum):
    """What a keyword message asks for.

    .. versionadded:: 0.1.0
    """

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


_KINDS = (
    dict.fromkeys(OPT_OUT_WORDS, Keyword.OPT_OUT)
    | dict.fromkeys(OPT_IN_WORDS, Keyword.OPT_IN)
    | dict.fromkeys(HELP_WORDS, Keyword.HELP)
)


def keyword_of(text: str) -> tuple[Keyword, str] | None:
    """The keyword *text* is, as its kind and its canonical word, or ``None``.

    >>> keyword_of("  Stop! ")
    (<Keyword.OPT_OUT: 'opt_out'>, 'STOP')
    >>> keyword_of("unstop"), keyword_of("stop it")
    ((<Keyword.OPT_IN: 'opt_in'>, 'UNSTOP'), None)

    .. versionadded:: 0.1.0
    """
    word = unicodedata.normalize("NFKC", text).strip().rstrip(".!").strip().upper()
    kind = _KINDS.get(word)
    return None if kind is None else (kind, word)
