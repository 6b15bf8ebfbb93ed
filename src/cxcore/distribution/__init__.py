"""Distribution: from an interaction to the right survey, on the right channel, at the right time.

This is the pure core the dispatcher builds on. Trigger rules, caps, quiet
hours and channel policy are data (:class:`RuleSet`, definable in Python or
in TOML and JSON files); :func:`decide` turns one interaction into one
:class:`Decision` from a :class:`FatigueState` and a clock, and :func:`explain`
says why. :class:`TokenService` signs the invitation's tokens.
"""

from cxcore.distribution.channels import ChannelPolicy, Rejection, choose_channel
from cxcore.distribution.decide import (
    Decision,
    Explanation,
    Outcome,
    Reason,
    decide,
    decide_reminder,
    explain,
    invitation_id,
    record,
    skip_refused,
)
from cxcore.distribution.fatigue import (
    FatiguePolicy,
    FatigueState,
    OpenInvitation,
    SuppressionReason,
)
from cxcore.distribution.quiet_hours import QuietHours, customer_zone, next_allowed
from cxcore.distribution.rules import RuleSet, load_rules, loads_rules
from cxcore.distribution.tokens import (
    ExpiredTokenError,
    InvitationTokens,
    TamperedTokenError,
    TokenError,
    TokenPurpose,
    TokenService,
    WrongPurposeError,
)
from cxcore.distribution.triggers import Sampling, TriggerRule

__all__ = [
    "ChannelPolicy",
    "Decision",
    "ExpiredTokenError",
    "Explanation",
    "FatiguePolicy",
    "FatigueState",
    "InvitationTokens",
    "OpenInvitation",
    "Outcome",
    "QuietHours",
    "Reason",
    "Rejection",
    "RuleSet",
    "Sampling",
    "SuppressionReason",
    "TamperedTokenError",
    "TokenError",
    "TokenPurpose",
    "TokenService",
    "TriggerRule",
    "WrongPurposeError",
    "choose_channel",
    "customer_zone",
    "decide",
    "decide_reminder",
    "explain",
    "invitation_id",
    "load_rules",
    "loads_rules",
    "next_allowed",
    "record",
    "skip_refused",
]
