"""What the SMS and WhatsApp channels say, in English and Hindi. Pure."""

from __future__ import annotations

import attrs

from cxcore import ChoiceQuestion, Invitation, Question, ScoredQuestion, Survey

__all__ = ["SmsTexts", "invitation_text", "prompt_text", "question_text"]

_REPLY_HINT = {
    "en": "Reply with a number from {low} to {high}.",
    "hi": "{low} से {high} तक की कोई संख्या लिखकर जवाब दें।",
}
_CHOICE_HINT = {
    "en": "Reply with the number of your answer: {options}.",
    "hi": "अपने उत्तर की संख्या लिखकर जवाब दें: {options}।",
}
_STOP_HINT = {"en": "Reply STOP to opt out.", "hi": "बंद करने के लिए STOP भेजें।"}
_GREETING = {"en": "Hi {name}, ", "hi": "नमस्ते {name}, "}
_LINK = {"en": "{title}: {link}", "hi": "{title}: {link}"}
_RETRY = {
    "en": "Sorry, we could not read that. {hint}",
    "hi": "क्षमा करें, हम इसे पढ़ नहीं पाए। {hint}",
}
_FOLLOW_UP = {
    "en": "Thank you! {question} (optional)",
    "hi": "धन्यवाद! {question} (वैकल्पिक)",
}
_THANKS = {"en": "Thank you for your feedback.", "hi": "आपकी प्रतिक्रिया के लिए धन्यवाद।"}


def _pick(table: dict[str, str], locale: str) -> str:
    return table.get(locale.split("-", 1)[0], table["en"])


@attrs.frozen(kw_only=True)
class SmsTexts:
    """The replies to keywords: one confirmation per opt-out, opt-in, and help request.

    Args:
        opt_out: Sent once when a number opts out.
        opt_in: Sent once when a number opts back in.
        help: Sent for HELP or INFO.

    .. versionadded:: 0.1.0
    """

    opt_out: str = (
        "You are unsubscribed from our surveys and will get no more messages. "
        "Reply START to subscribe again."
    )
    opt_in: str = "You are subscribed to our surveys again. Reply STOP to opt out."
    help: str = "Customer feedback surveys. Reply STOP to opt out, START to opt back in."


def question_text(question: Question, locale: str) -> str:
    """The question's words in *locale* (or its fallback)."""
    return question.text.get(locale)


def reply_hint(question: Question, locale: str) -> str | None:
    """How to answer *question* by reply, or ``None`` if it cannot be answered so."""
    if isinstance(question, ScoredQuestion):
        low, high = question.bounds
        return _pick(_REPLY_HINT, locale).format(low=low, high=high)
    if isinstance(question, ChoiceQuestion) and not question.multiple:
        options = ", ".join(f"{i} {o.text.get(locale)}" for i, o in enumerate(question.options, 1))
        return _pick(_CHOICE_HINT, locale).format(options=options)
    return None


def invitation_text(
    invitation: Invitation, survey: Survey, *, link: str | None, stop_hint: bool = True
) -> str:
    """The invitation: the first question and how to reply, or the survey's title and *link*."""
    locale = invitation.locale
    greeting = ""
    if invitation.name:
        name = " ".join(invitation.name.split())[:40]  # one line, and short
        greeting = _pick(_GREETING, locale).format(name=name)
    first = survey.questions[0]
    if link is None:
        hint = reply_hint(first, locale)
        body = f"{greeting}{question_text(first, locale)} {hint}"
    else:
        title = survey.title.get(locale)
        body = greeting + _pick(_LINK, locale).format(title=title, link=link)
    if stop_hint:
        body = f"{body} {_pick(_STOP_HINT, locale)}"
    return body


def prompt_text(question: Question | None, locale: str, *, retry: bool) -> str:
    """The reply to an answer: the next question, a retry prompt, or thanks."""
    if question is None:
        return _pick(_THANKS, locale)
    if retry:
        retry_hint = reply_hint(question, locale) or question_text(question, locale)
        return _pick(_RETRY, locale).format(hint=retry_hint)
    hint = reply_hint(question, locale)
    words = question_text(question, locale) + (f" {hint}" if hint else "")
    if question.required:
        return words
    return _pick(_FOLLOW_UP, locale).format(question=words)
