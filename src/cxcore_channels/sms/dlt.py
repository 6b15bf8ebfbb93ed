"""India's DLT rules: a commercial SMS to a +91 number must be a registered template.

Under TRAI's rules (TCCCPR 2018), every business that sends SMS in India
registers on a Distributed Ledger Technology (DLT) platform: itself (a
*principal entity*, with an entity id), its *sender headers* (the six
characters a phone shows as the sender) and each *content template*, with the
variable parts marked ``{#var#}``. An operator delivers a message only if its
text is an instance of a template registered for its header: the fixed text
exactly as registered, and each ``{#var#}`` filled with at most 30 characters.
Anything else is dropped, and the sender still pays.

So cxcore checks before it sends:

>>> template = DltTemplate("1207161234567890123",
...     "Dear {#var#}, thank you for shopping at Bazaar. Rate us: {#var#}")
>>> template.match("Dear Asha, thank you for shopping at Bazaar. Rate us: https://bz.in/s/x")
('Asha', 'https://bz.in/s/x')
>>> try:
...     template.match("Dear Asha, thanks for shopping at Bazaar. Rate us: https://bz.in/s/x")
... except DltMismatchError as exc:
...     print(exc)
the text is not an instance of DLT template 1207161234567890123:
  template: Dear {#var#}, thank you for shopping at Bazaar. Rate us…
                               ^
  text:     Dear Asha, thanks for shopping at Bazaar. Rate us: h…
                            ^
  at text position 16 (template position 19):
  expected ' you for shopping at', found 's for shopping at Ba'

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

import attrs

from cxcore import Problem, ValidationError
from cxcore_channels.sms.segments import SmsTextError

__all__ = [
    "DLT_MAX_SLOT_LENGTH",
    "DLT_SLOT",
    "DltApproval",
    "DltError",
    "DltMismatchError",
    "DltRegistration",
    "DltTemplate",
    "check_dlt",
    "requires_dlt",
]

DLT_SLOT = "{#var#}"
"""How a registered DLT template marks a variable part."""

DLT_MAX_SLOT_LENGTH = 30
"""The most characters DLT allows in one ``{#var#}``."""

_TOKEN = re.compile(r"\{#(.*?)#\}")
_HEADER = re.compile(r"[A-Za-z]{6}|[0-9]{6}")
_WINDOW = 36
"""Characters shown either side of a difference, in a mismatch's picture."""


class DltError(SmsTextError):
    """A send to a +91 number that India's DLT rules do not allow.

    A :class:`~cxcore.SendError` (see :class:`~cxcore_channels.sms.segments.SmsTextError`):
    the send ends ``failed``, never retried.

    .. versionadded:: 0.1.0
    """


class DltMismatchError(DltError):
    """A text is not an instance of a registered DLT template.

    The message draws the template and the text one above the other, a caret
    under the first difference in each, and says what was expected there.

    Attributes:
        template: The template it was matched against.
        text: The text.
        position: Where, in the text, it first differs (in characters from 0).
        template_position: The matching place in the template's text.
        expected: What the template has there (``"the end of the text"`` if it ends there).
        found: What the text has there (``"the end of the text"`` if it ends there).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        template: DltTemplate,
        text: str,
        *,
        position: int,
        template_position: int,
        expected: str,
        found: str,
        note: str = "",
    ) -> None:
        self.template = template
        self.text = text
        self.position = position
        self.template_position = template_position
        self.expected = expected
        self.found = found
        shown_template, template_caret = _picture(template.text, template_position)
        shown_text, text_caret = _picture(text, position)
        lines = [
            f"the text is not an instance of DLT template {template.template_id}:",
            f"  template: {shown_template}",
            f"            {' ' * template_caret}^",
            f"  text:     {shown_text}",
            f"            {' ' * text_caret}^",
            f"  at text position {position} (template position {template_position}):",
            f"  expected {expected}, found {found}{note}",
        ]
        super().__init__("\n".join(lines))


def _visible(char: str) -> str:
    """*char* as one visible glyph: line breaks and tabs get a symbol of their own."""
    return {"\n": "\u21b5", "\r": "\u240d", "\t": "\u2192"}.get(char, char)


def _width(char: str) -> int:
    """Columns *char* takes on a terminal: none for a mark drawn on the letter before it."""
    if unicodedata.category(char) in {"Mn", "Me", "Cf"}:
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _picture(text: str, index: int) -> tuple[str, int]:
    """*text* around *index* on one line, and the column of *index* in it."""
    start = max(0, index - _WINDOW)
    end = min(len(text), index + _WINDOW)
    head = "\u2026" if start else ""
    tail = "\u2026" if end < len(text) else ""
    before = "".join(map(_visible, text[start:index]))
    shown = head + before + "".join(map(_visible, text[index:end])) + tail
    return shown, len(head) + sum(map(_width, before))


_END = "the end of the text"


def _quote(text: str, start: int, length: int) -> str:
    if start >= len(text):
        return _END
    return repr(text[start : start + max(length, 1)])


def _check_digits(checks: list[Problem], field: str, value: object, what: str) -> None:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        checks.append(Problem(field, f"{value!r} is not {what} (expected the digits DLT issued)"))


@attrs.frozen
class DltTemplate:
    """A content template registered on DLT, with its ``{#var#}`` slots.

    Args:
        template_id: The template id DLT issued (digits, usually 19).
        text: The template exactly as registered, each variable part written ``{#var#}``.
        max_slot_length: The most characters one slot may hold (DLT: 30).

    Raises:
        ValidationError: Listing every problem: an id that is not digits, an
            empty text, a ``{#...#}`` other than ``{#var#}``.

    .. versionadded:: 0.1.0
    """

    template_id: str
    text: str
    max_slot_length: int = DLT_MAX_SLOT_LENGTH
    literals: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    """The fixed pieces around the slots: one more than there are slots."""
    _offsets: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        _check_digits(problems, "template_id", self.template_id, "a DLT template id")
        text: object = self.text  # anything may have been passed
        if not isinstance(text, str) or not text.strip():
            problems.append(Problem("text", f"{self.text!r} is not a template text"))
        else:
            problems.extend(
                Problem(
                    "text",
                    f"{m.group(0)!r} at position {m.start()} is not a DLT slot "
                    f"(expected {DLT_SLOT!r}, as the template was registered)",
                )
                for m in _TOKEN.finditer(self.text)
                if m.group(0) != DLT_SLOT
            )
        if type(self.max_slot_length) is not int or self.max_slot_length < 1:
            problems.append(
                Problem("max_slot_length", f"{self.max_slot_length!r} is not 1 or more")
            )
        if problems:
            raise ValidationError(f"DltTemplate {self.template_id!r}", problems)
        literals = tuple(self.text.split(DLT_SLOT))
        offsets = [0]
        for piece in literals[:-1]:
            offsets.append(offsets[-1] + len(piece) + len(DLT_SLOT))
        object.__setattr__(self, "literals", literals)
        object.__setattr__(self, "_offsets", tuple(offsets))

    @property
    def slots(self) -> int:
        """How many ``{#var#}`` slots the template has."""
        return len(self.literals) - 1

    def fill(self, *values: str) -> str:
        """The text with the slots filled by *values*, in order.

        Raises:
            DltError: If the count of values is not the count of slots, or a
                value is longer than a slot holds.
        """
        if len(values) != self.slots:
            msg = (
                f"DLT template {self.template_id} has {self.slots} slot(s), "
                f"given {len(values)} value(s)"
            )
            raise DltError(msg)
        for i, value in enumerate(values, 1):
            if len(value) > self.max_slot_length:
                msg = (
                    f"DLT template {self.template_id}: slot {i} holds at most "
                    f"{self.max_slot_length} characters, given {len(value)}: {value!r}"
                )
                raise DltError(msg)
        pieces = [self.literals[0]]
        for value, literal in zip(values, self.literals[1:], strict=True):
            pieces += [value, literal]
        return "".join(pieces)

    def matches(self, text: str) -> bool:
        """Whether *text* is an instance of the template."""
        try:
            self.match(text)
        except DltMismatchError:
            return False
        return True

    def match(self, text: str) -> tuple[str, ...]:
        """What *text* holds in each slot, if it is an instance of the template.

        When a text can be read in more than one way (two slots side by side),
        one of the readings is given: filled again, it gives the same text.

        Raises:
            DltMismatchError: Showing the first place the text and the template
                differ, and what was expected there.
        """
        trail = self._trail(text, None)
        if trail is None:  # read it again, noting every difference, to show the best one
            best = _Furthest()
            self._trail(text, best)
            raise best.error(self, text)
        return self._values(text, trail, len(text))

    def _trail(self, text: str, best: _Furthest | None) -> list[dict[int, int | None]] | None:
        """Each literal's end positions in *text*, with where the slot before it began; or None.

        With *best*, every place a literal does not fit is offered to it.
        """
        first = self.literals[0]
        if not text.startswith(first) or (not self.slots and text != first):
            if best is not None:
                best.literal(self, text, 0, 0)
            return None
        reached: dict[int, int | None] = {len(first): None}
        trail = [reached]
        last = self.slots
        for k in range(1, len(self.literals)):
            literal = self.literals[k]
            after: dict[int, int | None] = {}
            for start in reached:
                stop = min(start + self.max_slot_length, len(text))  # the slot ends in start..stop
                if best is not None:
                    self._differences(text, k, start, stop, best)
                if k == last:  # the last literal ends the text
                    q = len(text) - len(literal)
                    if start <= q <= stop and text.startswith(literal, q):
                        after.setdefault(len(text), start)
                elif literal:
                    q = text.find(literal, start, stop + len(literal))
                    while q >= 0:
                        after.setdefault(q + len(literal), start)
                        q = text.find(literal, q + 1, stop + len(literal))
                else:  # two slots side by side
                    for q in range(start, stop + 1):
                        after.setdefault(q, start)
            if not after:
                return None
            reached = after
            trail.append(reached)
        return trail

    def _differences(self, text: str, k: int, start: int, stop: int, best: _Furthest) -> None:
        """Offer *best* every place literal *k* does not fit after a slot begun at *start*."""
        literal = self.literals[k]
        for q in range(start, stop + 1):
            fits = text.startswith(literal, q)
            if not fits or (k == self.slots and q + len(literal) != len(text)):
                best.literal(self, text, k, q)
        best.overlong(self, text, k, start)

    def _values(self, text: str, trail: list[dict[int, int | None]], end: int) -> tuple[str, ...]:
        values: list[str] = []
        position = end
        for k in range(len(trail) - 1, 0, -1):
            start = trail[k][position]
            assert start is not None  # noqa: S101 - every later stage records its slot's start
            literal_start = position - len(self.literals[k])
            values.append(text[start:literal_start])
            position = start
        return tuple(reversed(values))

    def literal_at(self, k: int) -> int:
        """Where literal *k* begins in the template's text."""
        return self._offsets[k]


@attrs.define
class _Furthest:
    """The difference that gets furthest into the template: the one to show.

    Of the ways to fill the slots, the one that matches the most of the
    template's fixed text explains the mismatch best; of those, the one after
    which the text goes on most like the template (one character changed);
    then one where the text ends; then the one that differs soonest.
    """

    rank: tuple[int, ...] = (-1,)
    facts: dict[str, object] = attrs.Factory(dict)

    def _offer(self, progress: int, likeness: int = 0, **facts: object) -> None:
        position = int(str(facts["position"]))
        rank = (progress, likeness, facts["found"] == _END, -position)
        if rank > self.rank:
            self.rank = rank
            self.facts = facts

    def literal(self, template: DltTemplate, text: str, k: int, q: int) -> None:
        """Literal *k* was tried at text position *q*, and did not fit there."""
        literal = template.literals[k]
        m = 0
        while m < len(literal) and q + m < len(text) and text[q + m] == literal[m]:
            m += 1
        at = template.literal_at(k) + m
        if m == len(literal):  # the last literal fitted, but the text goes on
            self._offer(
                at,
                position=q + m,
                template_position=at,
                expected=_END,
                found=_quote(text, q + m, 20),
            )
            return
        rest = literal[m : m + 20]
        likeness = sum(a == b for a, b in zip(text[q + m + 1 :], literal[m + 1 :], strict=False))
        self._offer(
            at,
            likeness,
            position=q + m,
            template_position=at,
            expected=repr(rest),
            found=_quote(text, q + m, len(rest)),
        )

    def overlong(self, template: DltTemplate, text: str, k: int, start: int) -> None:
        """Slot *k*, begun at *start*, may be filled past its room: say so if that is why."""
        literal = template.literals[k]
        limit = template.max_slot_length
        at = template.literal_at(k)
        if not literal:
            if len(text) - start > limit and k == template.slots:
                self._offer(
                    at + 1,
                    position=start + limit,
                    template_position=at,
                    expected=_END,
                    found=_quote(text, start + limit, 20),
                    note=f"\n  (slot {k} holds at most {limit} characters; it would hold "
                    f"{len(text) - start})",
                )
            return
        found_at = text.find(literal, start + limit + 1)
        if found_at < 0:
            return
        self._offer(
            at + len(literal),
            position=start + limit,
            template_position=at,
            expected=repr(literal[:20]),
            found=_quote(text, start + limit, min(len(literal), 20)),
            note=f"\n  (slot {k} holds at most {limit} characters; "
            f"it would hold {found_at - start})",
        )

    def error(self, template: DltTemplate, text: str) -> DltMismatchError:
        f = self.facts
        return DltMismatchError(
            template,
            text,
            position=int(str(f["position"])),
            template_position=int(str(f["template_position"])),
            expected=str(f["expected"]),
            found=str(f["found"]),
            note=str(f.get("note", "")),
        )


@attrs.frozen
class DltApproval:
    """What a send to a +91 number carries for DLT: the result of :func:`check_dlt`.

    Attributes:
        entity_id: The principal entity id (PE id).
        header: The sender header.
        template_id: The template the text is an instance of.
        values: What the text holds in each of the template's slots.

    .. versionadded:: 0.1.0
    """

    entity_id: str
    header: str
    template_id: str
    values: tuple[str, ...] = ()


def _templates(value: Iterable[DltTemplate] | Mapping[str, str]) -> tuple[DltTemplate, ...]:
    if isinstance(value, Mapping):
        return tuple(DltTemplate(str(k), v) for k, v in value.items())
    return tuple(value)


def _upper(value: object) -> str:
    return value.upper() if isinstance(value, str) else value  # type: ignore[return-value]  # reported by the checks


@attrs.frozen
class DltRegistration:
    """A sender's DLT registration: its entity id, its header and its templates.

    Args:
        entity_id: The principal entity id (PE id) DLT issued (digits, usually 19).
        header: The sender header: six letters (transactional and service
            messages) or six digits (promotional). Kept in capitals.
        templates: The content templates registered for the header, as
            :class:`DltTemplate` values or as ``{template id: text}``.

    Raises:
        ValidationError: Listing every problem of every field.

    .. versionadded:: 0.1.0
    """

    entity_id: str
    header: str = attrs.field(converter=_upper)
    templates: tuple[DltTemplate, ...] = attrs.field(default=(), converter=_templates)

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        _check_digits(problems, "entity_id", self.entity_id, "a DLT entity id")
        header: object = self.header  # anything may have been passed
        if not isinstance(header, str) or not _HEADER.fullmatch(header):
            problems.append(
                Problem(
                    "header",
                    f"{self.header!r} is not a DLT sender header "
                    "(expected six letters, or six digits for promotional messages)",
                )
            )
        seen: dict[str, int] = {}
        given: tuple[object, ...] = self.templates  # anything may have been passed
        for i, template in enumerate(given):
            if not isinstance(template, DltTemplate):
                problems.append(Problem(f"templates[{i}]", f"{template!r} is not a DltTemplate"))
                continue
            if template.template_id in seen:
                problems.append(
                    Problem(
                        f"templates[{i}].template_id",
                        f"{template.template_id!r} is also templates[{seen[template.template_id]}]",
                    )
                )
            seen.setdefault(template.template_id, i)
        if problems:
            raise ValidationError("DltRegistration", problems)

    def template(self, template_id: str) -> DltTemplate:
        """The registered template *template_id*.

        Raises:
            DltError: If there is none, listing the registered ids.
        """
        for template in self.templates:
            if template.template_id == template_id:
                return template
        known = ", ".join(t.template_id for t in self.templates) or "none"
        msg = f"DLT template {template_id!r} is not registered (registered: {known})"
        raise DltError(msg)

    def approve(self, text: str, template_id: str | None = None) -> DltApproval:
        """Check that *text* is an instance of template *template_id* (or of any, if ``None``).

        Raises:
            DltMismatchError: If it is not; with several templates and no id,
                the difference shown is the one with the template that fits
                the text furthest.
            DltError: If there is no such template, or none at all.
        """
        if template_id is not None:
            candidates: tuple[DltTemplate, ...] = (self.template(template_id),)
        elif self.templates:
            candidates = self.templates
        else:
            msg = "the DLT registration has no templates (expected at least one in 'templates')"
            raise DltError(msg)
        closest: DltMismatchError | None = None
        for template in candidates:
            try:
                values = template.match(text)
            except DltMismatchError as exc:
                if closest is None or exc.position > closest.position:
                    closest = exc
                continue
            return DltApproval(
                entity_id=self.entity_id,
                header=self.header,
                template_id=template.template_id,
                values=values,
            )
        assert closest is not None  # noqa: S101 - there was at least one candidate
        raise closest


def requires_dlt(to: str) -> bool:
    """Whether an SMS to *to* (an E.164 number) falls under India's DLT rules: a +91 number.

    WhatsApp addresses (``whatsapp:+91...``) do not: WhatsApp has rules of its own.

    .. versionadded:: 0.1.0
    """
    return to.startswith("+91")


def check_dlt(
    to: str,
    text: str,
    registration: DltRegistration | None,
    template_id: str | None = None,
) -> DltApproval | None:
    """Check a send of *text* to *to* against India's DLT rules.

    A number outside India needs nothing: ``None``. A +91 number needs a DLT
    entity id, a sender header and a template (*registration*), and *text*
    must be an instance of template *template_id*, or of one of the
    registration's templates if it is ``None``.

    Raises:
        DltError: If *registration* is missing for a +91 number, or has no such template.
        DltMismatchError: If *text* is not an instance of the template, showing where.

    .. versionadded:: 0.1.0
    """
    if not requires_dlt(to):
        return None
    if registration is None:
        msg = (
            "a +91 number needs a DLT entity id, a sender header and a template id "
            "(India's DLT rules); this channel has no DLT registration ('dlt')"
        )
        raise DltError(msg)
    return registration.approve(text, template_id)
