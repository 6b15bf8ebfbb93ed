"""The words of the kiosk page, in English and Hindi. English is the fallback."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["KIOSK_LANGUAGES", "kiosk_words"]

_EN: dict[str, str] = {
    "title": "Tell us about your visit",
    "attract": "How was your visit today?",
    "attract_hint": "Touch to start. It takes ten seconds, and we ask nothing about you.",
    "start": "Start",
    "language_name": "English",
    "language": "भाषा / Language",
    "question_of": "Question {n} of {total}",
    "comment_title": "Anything you would like to add?",
    "comment_hint": "Optional. Please do not write your name or phone number.",
    "comment_label": "Your comment",
    "send": "Send",
    "skip": "Skip",
    "back": "Back",
    "thanks_title": "Thank you!",
    "thanks_body": "Your answer helps us do better.",
    "setup_title": "Set up this kiosk",
    "setup_body": "Enter the device key from `cxcore kiosk add`. It is kept on this device only.",
    "setup_key": "Device key",
    "setup_start": "Start the kiosk",
    "setup_failed": "This key was refused. Check it and try again.",
    "setup_offline": "The kiosk cannot reach the server. It will try again.",
    "staff": "Staff",
    "agent_title": "Record what a customer told you",
    "agent_intro": "Saved as agent-reported, apart from customers' own answers.",
    "agent_id": "Your staff id",
    "agent_save": "Save",
    "agent_cancel": "Cancel",
    "agent_saved": "Saved. Thank you.",
    "agent_missing": "Enter your staff id and an answer.",
    "queued": "{n} waiting to send",
    "offline": "Offline: answers are kept on this kiosk",
    "dropped": "{n} answer(s) refused by the server",
}

_HI: dict[str, str] = {
    "title": "अपने अनुभव के बारे में बताइए",
    "attract": "आज आपका अनुभव कैसा रहा?",
    "attract_hint": "शुरू करने के लिए छुएँ। दस सेकंड लगेंगे, और हम आपके बारे में कुछ नहीं पूछते।",
    "start": "शुरू करें",
    "language_name": "हिन्दी",
    "language": "भाषा / Language",
    "question_of": "प्रश्न {n} / {total}",
    "comment_title": "क्या आप कुछ और कहना चाहेंगे?",
    "comment_hint": "वैकल्पिक। कृपया अपना नाम या फ़ोन नंबर न लिखें।",
    "comment_label": "आपकी टिप्पणी",
    "send": "भेजें",
    "skip": "छोड़ें",
    "back": "वापस",
    "thanks_title": "धन्यवाद!",
    "thanks_body": "आपका उत्तर हमें बेहतर बनने में मदद करता है।",
    "setup_title": "इस कियोस्क को सेट करें",
    "setup_body": "`cxcore kiosk add` से मिली डिवाइस कुंजी डालें। यह केवल इसी डिवाइस पर रहती है।",
    "setup_key": "डिवाइस कुंजी",
    "setup_start": "कियोस्क शुरू करें",
    "setup_failed": "यह कुंजी स्वीकार नहीं हुई। जाँचकर फिर से कोशिश करें।",
    "setup_offline": "कियोस्क सर्वर तक नहीं पहुँच पा रहा। यह फिर कोशिश करेगा।",
    "staff": "स्टाफ़",
    "agent_title": "ग्राहक ने जो बताया, वह दर्ज करें",
    "agent_intro": "एजेंट द्वारा दर्ज के रूप में सहेजा जाता है, ग्राहकों के अपने उत्तरों से अलग।",
    "agent_id": "आपकी स्टाफ़ आईडी",
    "agent_save": "सहेजें",
    "agent_cancel": "रद्द करें",
    "agent_saved": "सहेज लिया गया। धन्यवाद।",
    "agent_missing": "अपनी स्टाफ़ आईडी और एक उत्तर डालें।",
    "queued": "{n} भेजे जाने बाकी",
    "offline": "ऑफ़लाइन: उत्तर इसी कियोस्क पर रखे गए हैं",
    "dropped": "सर्वर ने {n} उत्तर अस्वीकार किए",
}

KIOSK_LANGUAGES: Mapping[str, Mapping[str, str]] = {"en": _EN, "hi": _HI}
"""The kiosk's words by language."""


def kiosk_words(locale: str) -> Mapping[str, str]:
    """The kiosk's words in *locale* (``"hi-IN"`` takes Hindi), English where there are none."""
    return KIOSK_LANGUAGES.get(locale, KIOSK_LANGUAGES.get(locale.split("-", 1)[0], _EN))
