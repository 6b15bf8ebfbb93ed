"""Shared field checks for the model: each adds a Problem instead of raising."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from cxcore.errors import Problem, ValidationError

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_LOCALE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


_KNOWN_ZONES: set[str] = set()
"""Time zone names found valid before: checked again without looking the zone up."""
_MAX_KNOWN_ZONES = 2048  # more than the IANA database has: bounded whatever callers send


def not_utf8(value: str) -> str | None:
    r"""Why *value* cannot be stored as UTF-8 text (it holds a lone surrogate), or ``None``.

    JSON's ``\ud800`` escapes decode to such strings; no store, file or
    channel can encode them.
    """
    if value.isascii():
        return None
    found = _SURROGATE.search(value)
    if found is None:
        return None
    return f"contains a lone surrogate ({found.group()!r}), which is not UTF-8 text"


class Invalid:
    """What a converter returns for a nested value that failed its own checks.

    The owner's checks then report the nested problems under the field's path,
    together with every other problem, instead of stopping at the first.
    """

    __slots__ = ("problems", "value")

    def __init__(self, value: object, problems: Iterable[Problem]) -> None:
        self.value = value
        self.problems = tuple(problems)

    def __repr__(self) -> str:
        return repr(self.value)

    def __iter__(self) -> Iterator[Any]:
        # Checks that walk a collection see an empty one; the field's own
        # problems are reported under its path.
        return iter(())

    def __len__(self) -> int:
        return 0


def building(factory: Callable[[Any], T]) -> Callable[[Any], T]:
    """Attrs converter: build a nested value with *factory*, keeping its problems if it fails."""

    def convert(value: Any) -> T:  # noqa: ANN401 - a converter takes anything
        try:
            return factory(value)
        except ValidationError as exc:
            return Invalid(value, exc.problems)  # type: ignore[return-value]

    return convert


class Checks:
    """Collects every problem with one object, then raises them together."""

    __slots__ = ("problems",)

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record that the field at *path* is wrong, and why."""
        self.problems.append(Problem(path, message))

    def extend(self, prefix: str, problems: Iterable[Problem]) -> None:
        """Record problems found inside a nested value, under *prefix*."""
        self.problems.extend(p.under(prefix) for p in problems)

    def raise_if_any(self, subject: str) -> None:
        """Raise :class:`ValidationError` naming *subject* if anything was recorded."""
        if self.problems:
            raise ValidationError(subject, self.problems)

    # -- common field checks ------------------------------------------------

    def is_a(self, path: str, value: object, expected: type | tuple[type, ...], what: str) -> bool:
        """Check that *value* is an instance of *expected* (bools are not numbers)."""
        if isinstance(value, Invalid):
            self.extend(path, value.problems)
            return False
        ok = isinstance(value, expected) and not (
            isinstance(value, bool) and bool not in _as_tuple(expected)
        )
        if not ok:
            self.add(path, f"{value!r} is not {what}")
        return ok

    def identifier(self, path: str, value: object) -> bool:
        """Check an id: 1-128 letters, digits, '_', '.', ':' or '-', starting alphanumeric."""
        if not isinstance(value, str) or not _ID.fullmatch(value):
            self.add(
                path,
                f"{value!r} is not a valid id (expected 1-128 letters, digits, '_', '.', ':' "
                "or '-', starting with a letter or digit)",
            )
            return False
        return True

    def text(
        self, path: str, value: object, *, single_line: bool = False, max_length: int | None = None
    ) -> bool:
        """Check a non-empty string; *single_line* also forbids control characters."""
        if not isinstance(value, str) or not value.strip():
            self.add(path, f"{value!r} is not a non-empty string")
            return False
        if single_line and _CONTROL.search(value):
            self.add(path, f"{value!r} contains a line break or control character")
            return False
        problem = not_utf8(value)
        if problem is not None:
            self.add(path, problem)
            return False
        if max_length is not None and len(value) > max_length:
            self.add(path, f"is {len(value)} characters long (at most {max_length})")
            return False
        return True

    def locale(self, path: str, value: object) -> bool:
        """Check a BCP 47 language tag such as ``en``, ``hi`` or ``en-IN``."""
        if not isinstance(value, str) or not _LOCALE.fullmatch(value):
            self.add(
                path, f"{value!r} is not a locale (expected a tag such as 'en', 'hi', 'en-IN')"
            )
            return False
        return True

    def timezone(self, path: str, value: object) -> bool:
        """Check an IANA time zone name such as ``Asia/Kolkata``."""
        if isinstance(value, str) and value in _KNOWN_ZONES:
            return True
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 - cheap, but rarely needed

        if isinstance(value, str) and value and not _CONTROL.search(value):
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                pass
            else:
                if len(_KNOWN_ZONES) < _MAX_KNOWN_ZONES:
                    _KNOWN_ZONES.add(value)
                return True
        self.add(path, f"{value!r} is not an IANA time zone (expected e.g. 'Asia/Kolkata')")
        return False

    def phone(self, path: str, value: object) -> bool:
        """Check an E.164 phone number such as ``+919812345678``."""
        if not isinstance(value, str) or not _E164.fullmatch(value):
            self.add(
                path, f"{value!r} is not an E.164 phone number (expected e.g. '+919812345678')"
            )
            return False
        return True

    def email(self, path: str, value: object) -> bool:
        """Check an email address: one '@', a dotted domain, no spaces or control characters."""
        if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
            self.add(path, f"{value!r} is not an email address")
            return False
        return True

    def aware(self, path: str, value: object) -> bool:
        """Check a datetime that carries its time zone."""
        if not isinstance(value, datetime):
            self.add(path, f"{value!r} is not a datetime")
            return False
        if value.tzinfo is None or value.utcoffset() is None:
            self.add(path, f"{value.isoformat()} has no time zone (expected an aware datetime)")
            return False
        return True

    def items(
        self, path: str, value: object, cls: type[T] | tuple[type[T], ...], what: str
    ) -> tuple[T, ...]:
        """Check a tuple whose items are all *cls*; return the items that are."""
        if not isinstance(value, tuple):
            self.add(path, f"{value!r} is not a list of {what}")
            return ()
        good: list[T] = []
        for i, item in enumerate(value):
            if isinstance(item, Invalid):
                self.extend(f"{path}[{i}]", item.problems)
            elif isinstance(item, cls) and not isinstance(item, bool):
                good.append(item)
            else:
                self.add(f"{path}[{i}]", f"{item!r} is not one of {what}")
        return tuple(good)

    def member(self, path: str, value: object, enum_type: type[enum.Enum], what: str) -> bool:
        """Check that *value* is a member of *enum_type*, listing the allowed values."""
        if isinstance(value, enum_type):
            return True
        allowed = ", ".join(repr(m.value) for m in enum_type)
        self.add(path, f"{value!r} is not {what} (expected one of {allowed})")
        return False

    def unique(self, path: str, values: Iterable[Any], key: Callable[[Any], Any]) -> None:
        """Check that *key* of each value is unique, naming both places of a repeat."""
        seen: dict[Any, int] = {}
        for i, value in enumerate(values):
            k = key(value)
            if k in seen:
                self.add(f"{path}[{i}]", f"{k!r} is already used by {path}[{seen[k]}]")
            else:
                seen[k] = i


def member_or_value(enum_type: type[E], value: object) -> E:
    """Make an enum member from *value*, or return *value* for the checks to report."""
    try:
        return enum_type(value)
    except ValueError:
        return value  # type: ignore[return-value]


def as_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """Attrs converter: turn a list (or any non-string iterable) into a tuple.

    Anything else is left alone for the type checks to report.
    """
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(value)
    return value  # type: ignore[return-value]  # not a collection: reported by the checks


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)
