"""The domain model: journeys, customers, interactions, surveys, responses, invitations.

Every class is a frozen attrs value, checked when it is built: a bad field
raises :class:`~cxcore.ValidationError` naming every problem.
"""

from cxcore.model.case import Case, CaseStatus
from cxcore.model.customer import AddressKind, Consent, Customer, Purpose
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import DIMENSIONS, Interaction, Scalar
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.journey import Journey, Stage, Touchpoint
from cxcore.model.response import RespondentKind, Response, ResponseStatus
from cxcore.model.survey import (
    QUESTION_KINDS,
    AnswerValue,
    CesQuestion,
    ChoiceQuestion,
    Condition,
    CsatQuestion,
    Direction,
    Display,
    NpsQuestion,
    Op,
    Option,
    Question,
    RatingQuestion,
    RepeatPolicy,
    ScaleQuestion,
    ScoredQuestion,
    Survey,
    SurveyKind,
    TextQuestion,
)
from cxcore.model.text import LocalizedText

__all__ = [
    "DIMENSIONS",
    "QUESTION_KINDS",
    "AddressKind",
    "AnswerValue",
    "Case",
    "CaseStatus",
    "CesQuestion",
    "ChoiceQuestion",
    "Condition",
    "Consent",
    "CsatQuestion",
    "Customer",
    "Direction",
    "Display",
    "Disposition",
    "FrozenDict",
    "Interaction",
    "Invitation",
    "Journey",
    "LocalizedText",
    "NpsQuestion",
    "Op",
    "Option",
    "Purpose",
    "Question",
    "RatingQuestion",
    "RepeatPolicy",
    "RespondentKind",
    "Response",
    "ResponseStatus",
    "Scalar",
    "ScaleQuestion",
    "ScoredQuestion",
    "Stage",
    "Survey",
    "SurveyKind",
    "TextQuestion",
    "Touchpoint",
]
