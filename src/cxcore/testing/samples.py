"""Ready-made surveys and invitations, in English and Hindi, covering every question kind."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from cxcore.distribution.tokens import TokenService
from cxcore.model import (
    CesQuestion,
    ChoiceQuestion,
    Condition,
    CsatQuestion,
    Direction,
    Display,
    Invitation,
    NpsQuestion,
    Option,
    RatingQuestion,
    Survey,
    SurveyKind,
    TextQuestion,
)
from cxcore.model.interaction import Scalar

__all__ = ["SAMPLE_TIME", "sample_invitation", "sample_surveys", "signed_invitation"]

SAMPLE_TIME = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
"""The creation time of sample invitations: fixed, so renders are repeatable."""


def _t(en: str, hi: str) -> dict[str, str]:
    return {"en": en, "hi": hi}


_WHY = TextQuestion(
    id="why",
    text=_t("What is the main reason for your score?", "आपके स्कोर का मुख्य कारण क्या है?"),
)


def sample_surveys() -> tuple[Survey, ...]:
    """One survey per scored question kind, plus one with choices and display logic.

    Every text is in English and Hindi.
    """
    return (
        Survey(
            id="sample_nps",
            kind=SurveyKind.RELATIONSHIP,
            title=_t("How are we doing?", "हम कैसा कर रहे हैं?"),
            questions=[
                NpsQuestion(
                    id="ltr",
                    required=True,
                    text=_t(
                        "How likely are you to recommend us to a friend or colleague?",
                        "आप हमें किसी मित्र या सहकर्मी को सुझाने की कितनी संभावना रखते हैं?",
                    ),
                ),
                _WHY,
            ],
        ),
        Survey(
            id="sample_csat",
            title=_t("Your visit", "आपकी यात्रा"),
            questions=[
                CsatQuestion(
                    id="sat",
                    required=True,
                    display=Display.STARS,
                    text=_t(
                        "How satisfied were you with your visit?", "आप अपनी यात्रा से कितने संतुष्ट थे?"
                    ),
                ),
                _WHY,
            ],
        ),
        Survey(
            id="sample_ces",
            title=_t("Your support request", "आपका सहायता अनुरोध"),
            questions=[
                CesQuestion(
                    id="effort",
                    required=True,
                    direction=Direction.HIGHER_IS_BETTER,
                    text=_t(
                        "The company made it easy for me to solve my problem.",
                        "कंपनी ने मेरी समस्या हल करना मेरे लिए आसान बना दिया।",
                    ),
                ),
            ],
        ),
        Survey(
            id="sample_rating",
            title=_t("Your resolution", "आपका समाधान"),
            questions=[
                RatingQuestion(
                    id="mood",
                    required=True,
                    text=_t(
                        "How would you rate our resolution process?",
                        "आप हमारी समाधान प्रक्रिया को कैसे आंकेंगे?",
                    ),
                ),
            ],
        ),
        Survey(
            id="sample_mixed",
            title=_t("Your delivery", "आपकी डिलीवरी"),
            questions=[
                RatingQuestion(
                    id="mood",
                    scale=3,
                    display=Display.STARS,
                    required=True,
                    text=_t("How was your delivery?", "आपकी डिलीवरी कैसी रही?"),
                ),
                ChoiceQuestion(
                    id="issue",
                    show_if=[Condition("mood", "le", 2)],
                    multiple=True,
                    options=[
                        Option("late", _t("It was late", "देर से आई")),
                        Option("damaged", _t("Damaged item", "सामान क्षतिग्रस्त था")),
                        Option("rude", _t("Rude courier", "कूरियर का व्यवहार ख़राब था")),
                    ],
                    text=_t("What went wrong?", "क्या ग़लत हुआ?"),
                ),
                _WHY,
            ],
        ),
    )


def sample_invitation(
    survey: Survey,
    *,
    channel: str = "fake",
    address: str | None = "asha@example.in",
    locale: str = "en",
    name: str | None = "Asha",
    invitation_id: str = "inv-0001",
    token: str = "tok.sample.0001",  # noqa: S107 - a sample token, not a secret
) -> Invitation:
    """An invitation to *survey* with fixed times, for rendering tests."""
    return Invitation(
        id=invitation_id,
        survey_id=survey.id,
        survey_version=survey.version,
        channel=channel,
        address=address,
        token=token,
        unsubscribe_token=f"{token}.unsubscribe",
        amp_token=f"{token}.amp",
        created_at=SAMPLE_TIME,
        expires_at=SAMPLE_TIME + timedelta(days=14),
        customer_id="C-1001" if address is not None else None,
        name=name,
        locale=locale,
        timezone="Asia/Kolkata",
        context={"touchpoint": "billing_counter", "store": "BLR-01"},
    )


def signed_invitation(
    tokens: TokenService,
    *,
    invitation_id: str,
    survey_id: str,
    created_at: datetime,
    survey_version: int = 1,
    channel: str = "email",
    address: str | None = "asha@example.in",
    customer_id: str | None = "C-1001",
    locale: str = "en",
    days: int = 7,
    context: Mapping[str, Scalar] | None = None,
) -> Invitation:
    """An invitation with real tokens signed by *tokens*, as the outbox makes them.

    For tests of what comes back: links, forms and unsubscribes carrying these
    tokens pass :class:`~cxcore.intake.Intake`'s checks until *days* after
    *created_at*. It has a short code (``/l/<code>``) whatever its channel.

    .. versionadded:: 0.1.0
    """
    expires = created_at + timedelta(days=days)
    signed = tokens.issue_all(invitation_id, expires, short_code=True)
    return Invitation(
        id=invitation_id,
        survey_id=survey_id,
        survey_version=survey_version,
        channel=channel,
        address=address,
        token=signed.token,
        unsubscribe_token=signed.unsubscribe_token,
        amp_token=signed.amp_token,
        short_code=signed.short_code,
        created_at=created_at,
        expires_at=expires,
        customer_id=customer_id,
        locale=locale,
        context=context
        if context is not None
        else {"store": "BLR-01", "touchpoint": "support_call"},
    )
