r"""How long an SMS is: its encoding, its length in the encoding's units, and its parts.

An SMS carries 140 bytes. Text that fits the GSM 03.38 default alphabet
(3GPP TS 23.038) is packed in 7-bit units ("septets"): 160 per message. Text
with any other character is sent as UCS-2 (in practice UTF-16): 70 code
units per message. A longer text is split into parts ("segments") that the
phone joins again; each part gives up room to the joining header, so a part
holds 153 septets or 67 UTF-16 units. Providers bill per part.

* The characters of the GSM-7 extension table (``^ { } \ [ ~ ] | €`` and form
  feed) take two septets each (an escape, then the character), and the two are
  never split between parts.
* In UCS-2, a character outside the Basic Multilingual Plane (most emoji)
  takes two UTF-16 units (a surrogate pair), and a pair is never split either.

>>> count_segments("Thanks for shopping at Bazaar!")
Segments(encoding=<Encoding.GSM7: 'GSM-7'>, units=30, parts=1, forced_by=())
>>> count_segments("€" * 80).parts, count_segments("€" * 81).parts
(1, 2)
>>> seg = count_segments("Merci, ça va?")
>>> seg.encoding.value, seg.parts, seg.forced_by
('UCS-2', 1, (Forcing(position=7, char='ç'),))

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterator

import attrs

from cxcore import LocalizedText, Problem, SendError, Survey

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "Encoding",
    "Forcing",
    "Segments",
    "SmsTextError",
    "TooManySegmentsError",
    "check_segments",
    "check_survey_texts",
    "count_segments",
    "gsm7_lookalike",
    "gsm7_units",
    "is_gsm7",
    "split_segments",
]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The 127 characters of the GSM 03.38 default alphabet (its escape excluded): one septet each."""

GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
"""The characters of the GSM 03.38 extension table: two septets each (escape, character)."""

_SINGLE = {"GSM-7": 160, "UCS-2": 70}
_PER_PART = {"GSM-7": 153, "UCS-2": 67}


class Encoding(enum.StrEnum):
    """How an SMS text is encoded on the air.

    .. versionadded:: 0.1.0
    """

    GSM7 = "GSM-7"
    """The GSM 03.38 default alphabet with its extension table, 7 bits per unit."""
    UCS2 = "UCS-2"
    """Any Unicode text, counted in UTF-16 code units (emoji take two)."""

    @property
    def single(self) -> int:
        """The most units one unsplit message holds (160 or 70)."""
        return _SINGLE[self.value]

    @property
    def per_part(self) -> int:
        """The most units one part of a split message holds (153 or 67)."""
        return _PER_PART[self.value]

    @property
    def unit(self) -> str:
        """What the units are called (``"septets"`` or ``"UTF-16 units"``)."""
        return "septets" if self is Encoding.GSM7 else "UTF-16 units"


@attrs.frozen
class Forcing:
    """One character that is not in GSM-7, so forces the whole text into UCS-2.

    Attributes:
        position: Its index in the text, in characters (code points) from 0,
            as Python indexes a ``str``.
        char: The character.

    .. versionadded:: 0.1.0
    """

    position: int
    char: str

    @property
    def name(self) -> str:
        """Its Unicode name (``"LATIN SMALL LETTER C WITH CEDILLA"``), or its code point."""
        return unicodedata.name(self.char, f"U+{ord(self.char):04X}")

    def __str__(self) -> str:
        return f"{self.char!r} ({self.name}) at position {self.position}"


@attrs.frozen
class Segments:
    """How an SMS text is sent: the result of :func:`count_segments`.

    Attributes:
        encoding: GSM-7, or UCS-2 if any character is not in GSM-7.
        units: The text's length in the encoding's units: septets for GSM-7
            (extension characters count two), UTF-16 code units for UCS-2
            (characters outside the Basic Multilingual Plane count two).
        parts: How many messages it is sent as (and billed as); 0 for no text.
        forced_by: Every character that is not in GSM-7, in order, with its
            position: empty exactly when the encoding is GSM-7.

    .. versionadded:: 0.1.0
    """

    encoding: Encoding
    units: int
    parts: int
    forced_by: tuple[Forcing, ...] = ()

    @property
    def limit(self) -> int:
        """The most units the text could have without needing another part."""
        if self.parts <= 1:
            return self.encoding.single
        return self.parts * self.encoding.per_part

    @property
    def forcing_chars(self) -> tuple[str, ...]:
        """The distinct characters that force UCS-2, in order of first appearance."""
        return tuple(dict.fromkeys(f.char for f in self.forced_by))

    def describe(self) -> str:
        """One line for a person: ``"2 segments of UCS-2 (75 UTF-16 units)"``."""
        noun = "segment" if self.parts == 1 else "segments"
        return f"{self.parts} {noun} of {self.encoding.value} ({self.units} {self.encoding.unit})"


def _units(char: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def is_gsm7(text: str) -> bool:
    """Whether every character of *text* is in the GSM-7 alphabet or its extension table.

    .. versionadded:: 0.1.0
    """
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def gsm7_units(text: str) -> int:
    """The septets *text* takes in GSM-7 (extension characters count two).

    Raises:
        ValueError: If a character of *text* is not in GSM-7, naming the first one.

    .. versionadded:: 0.1.0
    """
    total = 0
    for i, c in enumerate(text):
        if c in GSM7_BASIC:
            total += 1
        elif c in GSM7_EXTENSION:
            total += 2
        else:
            msg = f"text: {Forcing(i, c)} is not in the GSM-7 alphabet"
            raise ValueError(msg)
    return total


_GSM7 = GSM7_BASIC | GSM7_EXTENSION


def _forcing(text: str) -> tuple[Forcing, ...]:
    if _GSM7.issuperset(text):
        return ()
    return tuple(Forcing(i, c) for i, c in enumerate(text) if c not in _GSM7)


def _length(text: str, encoding: Encoding) -> tuple[int, bool]:
    """*text*'s units in *encoding*, and whether any character takes two."""
    if encoding is Encoding.GSM7:
        doubles = sum(text.count(c) for c in GSM7_EXTENSION)
        return len(text) + doubles, bool(doubles)
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    return units, units != len(text)


def _chunks(text: str, encoding: Encoding, size: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, units) of each part: as many whole characters as fit in *size* units."""
    start = 0
    used = 0
    for i, c in enumerate(text):
        width = _units(c, encoding)
        if used + width > size:
            yield start, i, used
            start, used = i, 0
        used += width
    if used or start < len(text):
        yield start, len(text), used


def count_segments(text: str) -> Segments:
    """Count the parts an SMS of *text* is sent as.

    GSM-7 if every character is in the GSM 03.38 alphabet, else UCS-2. One
    part holds 160 septets or 70 UTF-16 units; a split text's parts hold 153
    or 67, filled with whole characters: an extension character's escape and
    the character, or a surrogate pair, are never split, so a part may hold one
    unit less than its room.

    Args:
        text: The message body, exactly as it will be sent.

    Returns:
        The encoding, the length in units, the number of parts, and the
        characters that forced UCS-2.

    .. versionadded:: 0.1.0
    """
    forced_by = _forcing(text)
    encoding = Encoding.UCS2 if forced_by else Encoding.GSM7
    units, doubles = _length(text, encoding)
    single, per_part = (70, 67) if forced_by else (160, 153)
    if units == 0:
        parts = 0
    elif units <= single:
        parts = 1
    elif not doubles:  # nothing that must stay whole: parts are full to the brim
        parts = -(-units // per_part)
    else:
        parts = sum(1 for _ in _chunks(text, encoding, per_part))
    return Segments(encoding=encoding, units=units, parts=parts, forced_by=forced_by)


def split_segments(text: str) -> tuple[str, ...]:
    """Split *text* into the parts it is sent as, the way a phone's encoder does.

    Joined again, the parts are *text*. A text that fits one message is one
    part; no text is no part.

    >>> [len(p) for p in split_segments("x" * 200)]
    [153, 47]

    .. versionadded:: 0.1.0
    """
    seg = count_segments(text)
    if seg.parts <= 1:
        return (text,) if text else ()
    return tuple(
        text[start:end] for start, end, _ in _chunks(text, seg.encoding, seg.encoding.per_part)
    )


# ---------------------------------------------------------------- the max-segments policy


class SmsTextError(SendError, ValueError):
    """An SMS text that must not be sent as it is: too long, or not what DLT registered.

    It is a :class:`~cxcore.SendError` that is neither retryable nor ambiguous,
    so the dispatcher ends the send ``failed`` with this message whether the
    channel raises it from ``render`` or from ``send``: the same text would be
    refused again.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)


class TooManySegmentsError(SmsTextError):
    """A text needs more parts than the channel allows (its ``max_segments``).

    Attributes:
        segments: The text's count.
        max_segments: The limit it is over.

    .. versionadded:: 0.1.0
    """

    def __init__(self, segments: Segments, max_segments: int, *, field: str) -> None:
        self.segments = segments
        self.max_segments = max_segments
        why = ""
        if segments.forced_by:
            named = ", ".join(str(f) for f in _first_of_each(segments.forced_by)[:3])
            why = f"; UCS-2 because of {named}"
        super().__init__(
            f"the text is {segments.describe()}, over the limit of {max_segments} "
            f"({field} = {max_segments}){why}"
        )


def _first_of_each(forced_by: tuple[Forcing, ...]) -> list[Forcing]:
    seen: dict[str, Forcing] = {}
    for f in forced_by:
        seen.setdefault(f.char, f)
    return list(seen.values())


def check_segments(text: str, max_segments: int | None, *, field: str = "max_segments") -> Segments:
    """Count *text*'s parts, and refuse it if they are more than *max_segments*.

    >>> check_segments("Rate us: https://bz.example/s/abc", 1).parts
    1
    >>> try:
    ...     check_segments("ç" * 71, 1, field="channels.sms.max_segments")
    ... except TooManySegmentsError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    the text is 2 segments of UCS-2 (71 UTF-16 units), over the limit of 1
    (channels.sms.max_segments = 1); UCS-2 because of 'ç'
    (LATIN SMALL LETTER C WITH CEDILLA) at position 0

    Args:
        text: The message body, exactly as it will be sent.
        max_segments: The most parts allowed; ``None`` for no limit.
        field: The name of the setting, for the message (``"channels.sms.max_segments"``).

    Returns:
        The count (see :func:`count_segments`).

    Raises:
        TooManySegmentsError: Naming the count, the limit and the encoding (and
            what forced UCS-2).
        ValueError: If *max_segments* is not a whole number of 1 or more.

    .. versionadded:: 0.1.0
    """
    if max_segments is not None and (type(max_segments) is not int or max_segments < 1):
        msg = f"{field}: {max_segments!r} is not a whole number of 1 or more"
        raise ValueError(msg)
    segments = count_segments(text)
    if max_segments is not None and segments.parts > max_segments:
        raise TooManySegmentsError(segments, max_segments, field=field)
    return segments


# ---------------------------------------------------------------- authoring warnings

_LOOKALIKES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u2022": "-",
    "\u00b7": ".",
    "\t": " ",
    "\u20b9": "Rs.",
    "\u00d7": "x",
    "\u2122": "TM",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
}
"""Typographic characters and symbols, and their plain GSM-7 stand-ins ("smart quotes", ₹)."""


def gsm7_lookalike(char: str) -> str | None:
    """A GSM-7 stand-in for *char*, or ``None``: a curly quote gives ``"'"``, ``"ç"`` gives ``"c"``.

    Typographic quotes, dashes, ellipses and spaces get their plain form;
    accented Latin letters lose the accent GSM-7 lacks. *char* itself is
    returned when it is already in GSM-7.

    .. versionadded:: 0.1.0
    """
    if is_gsm7(char):
        return char
    if char in _LOOKALIKES:
        return _LOOKALIKES[char]
    bare = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return bare if bare and bare != char and is_gsm7(bare) else None


def _is_script_letter(char: str) -> bool:
    """A letter or mark of a script other than Latin (Devanagari, Greek...): written on purpose."""
    if unicodedata.category(char)[0] not in "LM":
        return False
    return not unicodedata.name(char, "").startswith("LATIN")


def _text_problem(text: str) -> str | None:
    seg = count_segments(text)
    if not seg.forced_by or any(_is_script_letter(f.char) for f in seg.forced_by):
        return None
    plain = "".join(gsm7_lookalike(c) or "" for c in text)
    gsm = count_segments(plain)
    named = []
    for f in _first_of_each(seg.forced_by):
        stand_in = gsm7_lookalike(f.char)
        hint = f" (write {stand_in!r} instead)" if stand_in else ""
        named.append(f"{f}{hint}")
    if gsm.parts != seg.parts:
        cost = f"{seg.describe()} instead of {gsm.describe()}"
    else:
        cost = (
            f"{seg.describe()}, with room for {seg.limit - seg.units} more units "
            f"instead of {gsm.limit - gsm.units} in GSM-7"
        )
    verb = "forces" if len(named) == 1 else "force"
    return f"{', '.join(named)} {verb} UCS-2: {cost}"


def check_survey_texts(survey: Survey) -> list[Problem]:
    """Warnings for the texts of *survey* that a stray character forces into UCS-2.

    A text mostly in GSM-7 that holds one typographic quote, dash or emoji,
    or an accented letter GSM-7 lacks (``ç``; ``Ç`` is in GSM-7), is sent as
    UCS-2: 70 characters per part instead of 160, so it may cost two or three
    times as much. Each such text gives one problem, naming every such
    character with its position, a GSM-7 stand-in where there is one, and the
    segment cost. Texts written in a script GSM-7 lacks (Hindi in Devanagari)
    are UCS-2 by nature and are not reported.

    It is meant as a channel's :class:`~cxcore.SurveyCheck`: ``cxcore validate``
    prints what it finds as warnings.

    Returns:
        Problems whose paths are relative to the survey
        (``questions[0].text.en``); empty when every text is fine.

    .. versionadded:: 0.1.0
    """
    texts: list[tuple[str, LocalizedText]] = [("title", survey.title)]
    if survey.intro is not None:
        texts.append(("intro", survey.intro))
    if survey.thanks is not None:
        texts.append(("thanks", survey.thanks))
    for i, question in enumerate(survey.questions):
        texts.extend((f"questions[{i}].{path}", text) for path, text in question.texts())
    problems = []
    for path, text in texts:
        for locale in sorted(text.translations):
            found = _text_problem(text.translations[locale])
            if found is not None:
                problems.append(Problem(f"{path}.{locale}", found))
    return problems
