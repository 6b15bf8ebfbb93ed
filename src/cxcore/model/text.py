"""Texts that come in several languages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs

from cxcore.model._checks import Checks
from cxcore.model.frozendict import FrozenDict

__all__ = ["LocalizedText"]


def _to_frozen(value: Mapping[str, str] | str) -> FrozenDict[str, str]:
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict(value)
    return value  # type: ignore[return-value]  # reported by the checks below


@attrs.frozen(repr=False)
class LocalizedText:
    """One text in one or more languages, keyed by locale.

    >>> t = LocalizedText({"en": "Thank you!", "hi": "धन्यवाद!"})
    >>> t.get("hi"), t.get("ta", fallback="en")
    ('धन्यवाद!', 'Thank you!')

    Args:
        translations: The text per locale (``{"en": ..., "hi": ...}``).

    Raises:
        ValidationError: If there is no translation, a locale is malformed or a
            text is empty.

    .. versionadded:: 0.1.0
    """

    translations: FrozenDict[str, str] = attrs.field(converter=_to_frozen)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        translations: object = self.translations  # anything may have been passed
        if not isinstance(translations, Mapping):
            checks.add("", f"{translations!r} is not a mapping of locale to text")
        elif not self.translations:
            checks.add("", "has no translation (expected at least one locale)")
        else:
            for locale, text in self.translations.items():
                if checks.locale(f"[{locale!r}]", locale):
                    checks.text(f"{locale}", text)
        checks.raise_if_any("LocalizedText")

    @property
    def locales(self) -> frozenset[str]:
        """The locales this text is available in."""
        return frozenset(self.translations)

    def get(self, locale: str, fallback: str | None = None) -> str:
        """Return the text in *locale*, else in its base language, else in *fallback*.

        ``en-IN`` falls back to ``en``. Without a usable fallback, the first
        translation is returned, so a message is never empty.
        """
        for candidate in (locale, locale.split("-", 1)[0], fallback):
            if candidate is not None and candidate in self.translations:
                return self.translations[candidate]
        return next(iter(self.translations.values()))

    def __iter__(self) -> Iterator[str]:
        return iter(self.translations)

    def __repr__(self) -> str:
        return f"LocalizedText({dict(self.translations)!r})"
