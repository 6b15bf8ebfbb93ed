"""Tests for cxcore.scoring.rates: AAPOR RR1 and RR2 per segment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cxcore.errors import CxError
from cxcore.model import Disposition, Invitation
from cxcore.scoring import AaporGroup, aapor_group, aapor_rates, response_rates

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def invitation(i: int, channel: str, store: str) -> Invitation:
    return Invitation(
        id=f"I{i}",
        survey_id="visit",
        survey_version=1,
        channel=channel,
        address=None,
        token=f"t{i}",
        created_at=T0,
        context={"store": store},
    )


class TestAapor:
    def test_formulas(self) -> None:
        """RR1 = I / all cases; RR2 = (I + P) / all cases."""
        assert aapor_rates(complete=30, partial=10, refusal=5, non_contact=50, unknown=5) == (
            0.3,
            0.4,
        )
        assert aapor_rates(complete=0) == (None, None)
        with pytest.raises(CxError, match="negative"):
            aapor_rates(complete=-1)

    def test_groups(self) -> None:
        """Dispositions map to AAPOR groups; unknown strings are refused."""
        assert aapor_group("completed") is AaporGroup.COMPLETE
        assert aapor_group(Disposition.STARTED) is AaporGroup.PARTIAL
        assert aapor_group("bounced") is AaporGroup.UNKNOWN
        with pytest.raises(CxError, match="not a disposition"):
            aapor_group("lost")


class TestResponseRates:
    def test_per_channel(self) -> None:
        """Rates per channel; an invitation listed twice counts once, with its last disposition."""
        outcomes = [
            (invitation(1, "email", "A"), "delivered"),
            (invitation(1, "email", "A"), "completed"),
            (invitation(2, "email", "A"), "started"),
            (invitation(3, "email", "B"), "bounced"),
            (invitation(4, "sms", "B"), "completed"),
            (invitation(5, "sms", "B"), "expired"),
        ]
        rates = {r.key: r for r in response_rates(outcomes, by=["channel"])}
        email = rates[("email",)]
        assert email.invited == 3
        assert email.rr1 == pytest.approx(1 / 3)
        assert email.rr2 == pytest.approx(2 / 3)
        assert rates[("sms",)].rr1 == 0.5
        by_store = {r.key: r.invited for r in response_rates(outcomes, by=["store"])}
        assert by_store == {("A",): 2, ("B",): 3}
        overall = response_rates(outcomes)
        assert overall[0].rr1 == pytest.approx(2 / 5)
