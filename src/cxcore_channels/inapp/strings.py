"""The widget's own words (buttons, labels), in English and Hindi.

The survey's words come from the survey; these are the words around them. A
locale other than these falls back to its base language, then to English.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["UI_STRINGS", "ui_strings"]

_EN: Final = {
    "dialog": "Feedback",
    "close": "Close",
    "next": "Next",
    "send": "Send",
    "skip": "Skip",
    "optional": "optional",
    "choose_one": "Choose one",
    "choose_any": "Choose any that apply",
    "your_answer": "Your answer",
    "thanks": "Thank you for your feedback!",
    "queued": "Thank you! Your answer will be sent when you are back online.",
    "error": "Sorry, your answer could not be sent.",
    "step": "Question {n} of {total}",
}

_HI: Final = {
    "dialog": "आपकी राय",
    "close": "बंद करें",
    "next": "आगे",
    "send": "भेजें",
    "skip": "छोड़ें",
    "optional": "वैकल्पिक",
    "choose_one": "कोई एक चुनें",
    "choose_any": "जो भी लागू हों, सभी चुनें",
    "your_answer": "आपका जवाब",
    "thanks": "आपकी राय के लिए धन्यवाद!",
    "queued": "धन्यवाद! आपका जवाब ऑनलाइन होते ही भेज दिया जाएगा।",
    "error": "क्षमा करें, आपका जवाब भेजा नहीं जा सका।",
    "step": "सवाल {n} / {total}",
}

UI_STRINGS: Final = MappingProxyType(
    {"en": MappingProxyType(_EN), "hi": MappingProxyType(_HI)},
)
"""The strings per locale."""


def ui_strings(locale: str) -> Mapping[str, str]:
    """The strings for *locale*, falling back to its base language, then English."""
    for candidate in (locale, locale.split("-", 1)[0]):
        if candidate in UI_STRINGS:
            return UI_STRINGS[candidate]
    return UI_STRINGS["en"]
