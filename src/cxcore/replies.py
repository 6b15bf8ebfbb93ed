"""Reading a free-text reply as the answer to one question: an SMS "9", "nine", "नौ" or "९".

Pure functions: :class:`~cxcore.intake.Intake` finds the question a reply
answers (the first one not yet answered) and asks :func:`read_reply` what it
says. A score is read from the start of the reply, in ASCII or any other
script's digits (Devanagari ``९``), or as a number word in English, Hindi or
romanised Hindi; whatever follows the score (``"9 great service"``) is
returned as the rest, which can answer a comment question.
"""

from __future__ import annotations

import re
import unicodedata

import attrs

from cxcore.model.survey import (
    AnswerValue,
    ChoiceQuestion,
    Question,
    ScoredQuestion,
)

__all__ = ["NUMBER_WORDS", "ROMANISED_NUMBER_WORDS", "ReplyReading", "read_reply"]

NUMBER_WORDS: dict[str, int] = {
    # English
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    # Hindi, in Devanagari (with common spellings)
    "शून्य": 0, "एक": 1, "दो": 2, "तीन": 3, "चार": 4, "पाँच": 5, "पांच": 5,
    "छह": 6, "छः": 6, "छे": 6, "सात": 7, "आठ": 8, "नौ": 9, "दस": 10,
}  # fmt: skip
"""Number words read as scores anywhere in a reply, lower-cased."""

ROMANISED_NUMBER_WORDS: dict[str, int] = {
    "shunya": 0, "ek": 1, "do": 2, "teen": 3, "char": 4, "chaar": 4, "paanch": 5,
    "panch": 5, "chhe": 6, "chhah": 6, "saat": 7, "aath": 8, "nau": 9, "das": 10,
}  # fmt: skip
"""Hindi number words as people type them in Latin letters. Read only at the start
of a reply: inside an English sentence "do" and "char" are not numbers."""

# A number: digits of any script (\d is Unicode-aware), or a word; then what follows.
_WORD = r"[^\W\d_]+[\u0900-\u097F]*"  # letters, with Devanagari's combining marks
_TOKEN = re.compile(rf"\d+|{_WORD}", re.UNICODE)
_SEPARATORS = " \t\r\n!.,;:-\u2013\u2014)/*#"  # with the en and em dashes
_ALTERNATIVE = re.compile(r"^\s*(?:-|\u2013|/|or|to|ya|या|से)\s*", re.IGNORECASE)


@attrs.frozen
class ReplyReading:
    """What a reply says about one question.

    Attributes:
        value: The answer read, or ``None`` if none could be read.
        rest: What followed the answer (a comment), stripped; ``""`` if nothing did.
        problem: Why no answer could be read, for the respondent, when ``value`` is ``None``.
        ambiguous: Whether the reply gave more than one answer (``"9 or 10"``).

    .. versionadded:: 0.1.0
    """

    value: AnswerValue | None
    rest: str = ""
    problem: str | None = None
    ambiguous: bool = False


def read_reply(text: str, question: Question) -> ReplyReading:
    """Read *text* as the answer to *question*.

    >>> from cxcore import NpsQuestion
    >>> q = NpsQuestion(id="ltr", text={"en": "Would you recommend us?"})
    >>> [read_reply(t, q).value for t in ("9", "10!", "nine", "नौ", "९", " 9 great service ")]
    [9, 10, 9, 9, 9, 9]
    >>> read_reply("9 great service", q).rest
    'great service'
    >>> read_reply("9 or 10", q).ambiguous, read_reply("eleven", q).problem
    (True, 'the reply has no number from 0 to 10')

    Args:
        text: The reply as the person wrote it.
        question: The question it answers.

    .. versionadded:: 0.1.0
    """
    clean = unicodedata.normalize("NFKC", text).strip()
    if isinstance(question, ScoredQuestion):
        return _score(clean, question)
    if isinstance(question, ChoiceQuestion):
        return _choice(clean, question)
    if not clean:
        return ReplyReading(None, problem="the reply is empty")
    return ReplyReading(clean)  # a text question takes the reply as it is


def _number(token: str, *, leading: bool = True) -> int | None:
    if token.isdecimal():
        return int(token) if len(token) <= 3 else None  # int() reads any script's digits
    word = token.casefold()
    value = NUMBER_WORDS.get(word)
    if value is None and leading:
        value = ROMANISED_NUMBER_WORDS.get(word)
    return value


def _score(text: str, question: ScoredQuestion) -> ReplyReading:
    low, high = question.bounds
    expected = f"number from {low} to {high}"
    first = _TOKEN.match(text)
    value = _number(first.group()) if first else None
    if first is None or value is None:
        numbers = [n for t in _TOKEN.findall(text) if (n := _number(t, leading=False)) is not None]
        if len(numbers) > 1:
            return _several(expected)
        if len(numbers) == 1 and low <= numbers[0] <= high:
            return ReplyReading(numbers[0])  # "I'd say 9": the score, no comment
        return ReplyReading(None, problem=f"the reply has no {expected}")
    after = text[first.end() :]
    alternative = _ALTERNATIVE.match(after)
    nxt = _TOKEN.match(after[alternative.end() :]) if alternative else None
    if nxt and _number(nxt.group()) is not None:
        return _several(expected)
    if after and not (after[0] in _SEPARATORS or after[0].isspace()):
        return ReplyReading(None, problem=f"the reply has no {expected}")  # "9am", "5star"
    if not low <= value <= high:
        return ReplyReading(None, problem=f"{value} is not a {expected}")
    return ReplyReading(value, rest=after.strip(_SEPARATORS + " "))


def _several(expected: str) -> ReplyReading:
    return ReplyReading(
        None, problem=f"the reply gives several numbers (expected one {expected})", ambiguous=True
    )


def _choice(text: str, question: ChoiceQuestion) -> ReplyReading:
    parts = [p.strip() for p in re.split(r"[,;]|\s+and\s+|\s+और\s+", text) if p.strip()]
    if not parts:
        return ReplyReading(None, problem="the reply is empty")
    chosen: list[str] = []
    for part in parts:
        option = _option(part, question)
        if option is None:
            numbers = ", ".join(f"{i} ({o.id})" for i, o in enumerate(question.options, 1))
            return ReplyReading(None, problem=f"{part!r} is not one of the options: {numbers}")
        if option not in chosen:
            chosen.append(option)
    if not question.multiple:
        if len(chosen) > 1:
            return ReplyReading(
                None, problem="the reply picks several options (expected one)", ambiguous=True
            )
        return ReplyReading(chosen[0])
    return ReplyReading(tuple(chosen))


def _option(part: str, question: ChoiceQuestion) -> str | None:
    number = _number(part)
    if number is not None:
        return question.options[number - 1].id if 1 <= number <= len(question.options) else None
    wanted = part.casefold()
    for option in question.options:
        if wanted == option.id.casefold() or any(
            wanted == label.casefold() for label in option.text.translations.values()
        ):
            return option.id
    return None
