"""The words of the default templates, in English and Hindi.

Templates read them as ``t.<key>``. Locales other than these fall back to
their base language, then to English.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = ["UI_STRINGS", "ui_strings"]

_EN: Final = {
    "hello": "Hello",
    "intro": "We would love to hear from you. One click on an answer is enough.",
    "answer_in_browser": "Answer in your browser",
    "more_questions": "A few more questions? Continue in your browser",
    "submit": "Send",
    "thanks": "Thank you for your feedback!",
    "error": "Sorry, we could not record your answer. Please use the link below.",
    "unsubscribe": "Unsubscribe",
    "footer": "You received this email because of your recent interaction with us.",
    "choose_one": "Choose one",
    "choose_any": "Choose all that apply",
    "optional": "optional",
    "your_answer": "Your answer",
}

_HI: Final = {
    "hello": "नमस्ते",
    "intro": "हम आपकी राय जानना चाहेंगे। किसी जवाब पर एक क्लिक काफ़ी है।",
    "answer_in_browser": "अपने ब्राउज़र में जवाब दें",
    "more_questions": "कुछ और सवाल? अपने ब्राउज़र में जारी रखें",
    "submit": "भेजें",
    "thanks": "आपकी राय के लिए धन्यवाद!",
    "error": "क्षमा करें, आपका जवाब दर्ज नहीं हो सका। कृपया नीचे दिए गए लिंक का उपयोग करें।",
    "unsubscribe": "सदस्यता छोड़ें",
    "footer": "आपको यह ईमेल हमारे साथ आपकी हाल की बातचीत के कारण मिला है।",
    "choose_one": "कोई एक चुनें",
    "choose_any": "जो भी लागू हों, सभी चुनें",
    "optional": "वैकल्पिक",
    "your_answer": "आपका जवाब",
}

UI_STRINGS: Final = MappingProxyType(
    {"en": MappingProxyType(_EN), "hi": MappingProxyType(_HI)},
)
"""The strings per locale."""


def ui_strings(locale: str) -> MappingProxyType[str, str]:
    """The strings for *locale*, falling back to its base language, then English."""
    for candidate in (locale, locale.split("-", 1)[0]):
        if candidate in UI_STRINGS:
            return UI_STRINGS[candidate]
    return UI_STRINGS["en"]
