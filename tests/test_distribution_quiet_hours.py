"""Quiet hours and delays in the recipient's zone: DST changes, +05:30 and +05:45."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore import Customer, DefinitionError, Interaction, ManualClock, ValidationError
from cxcore.definitions import structure
from cxcore.distribution import (
    FatigueState,
    Outcome,
    QuietHours,
    RuleSet,
    TriggerRule,
    decide,
    next_allowed,
)

ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "UTC")
DAY_WINDOW = QuietHours(country="*", send_from="09:00", send_until="21:00")
NIGHT_WINDOW = QuietHours(country="*", send_from="22:00", send_until="06:00")


def local(zone: str, *args: int) -> datetime:
    year, month, day, hour, minute = args
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


class TestNextAllowed:
    @pytest.mark.parametrize(
        ("zone", "due_local", "expected_local"),
        [
            # +05:30: 21:30 in Kolkata waits for 09:00 the next morning.
            ("Asia/Kolkata", (2026, 11, 20, 21, 30), (2026, 11, 21, 9, 0)),
            # +05:45: 06:10 in Kathmandu waits until 09:00 the same day.
            ("Asia/Kathmandu", (2026, 11, 20, 6, 10), (2026, 11, 20, 9, 0)),
            # London springs forward on 2026-03-29 at 01:00 UTC.
            ("Europe/London", (2026, 3, 28, 22, 0), (2026, 3, 29, 9, 0)),
            # London falls back on 2026-10-25.
            ("Europe/London", (2026, 10, 24, 23, 30), (2026, 10, 25, 9, 0)),
            # New York springs forward on 2026-03-08 and falls back on 2026-11-01.
            ("America/New_York", (2026, 3, 7, 23, 0), (2026, 3, 8, 9, 0)),
            ("America/New_York", (2026, 11, 1, 1, 30), (2026, 11, 1, 9, 0)),
        ],
    )
    def test_deferred_to_local_opening_across_changes(self, zone, due_local, expected_local):
        """A send outside the window goes out when it opens, in local wall time."""
        due = local(zone, *due_local)
        got = next_allowed(due, zone, DAY_WINDOW)
        assert got.tzinfo is UTC
        assert got.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime(*expected_local)  # noqa: DTZ001
        assert got > due

    def test_kathmandu_offset_is_exactly_5_45(self):
        got = next_allowed(datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "Asia/Kathmandu", DAY_WINDOW)
        assert got == datetime(2026, 1, 1, 3, 15, tzinfo=UTC)

    def test_window_opening_in_a_dst_gap(self):
        """A window opening at 01:30 on the night London skips 01:00-02:00 opens at 02:30 BST."""
        gap = QuietHours(country="*", send_from="01:30", send_until="05:00")
        due = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
        got = next_allowed(due, "Europe/London", gap)
        assert got == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert gap.allows(got.astimezone(ZoneInfo("Europe/London")).time())

    def test_inside_the_window_is_untouched(self):
        due = local("Asia/Kolkata", 2026, 11, 20, 10, 0)
        assert next_allowed(due, "Asia/Kolkata", DAY_WINDOW) == due
        assert next_allowed(due, "Asia/Kolkata", None) == due

    @given(
        due=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)).map(  # noqa: DTZ001
            lambda d: d.replace(tzinfo=UTC)
        ),
        zone=st.sampled_from(ZONES),
        window=st.sampled_from((DAY_WINDOW, NIGHT_WINDOW)),
    )
    def test_never_dropped_never_early_always_allowed(self, due, zone, window):
        """The result is at or after due, inside the window, and less than a day away."""
        got = next_allowed(due, zone, window)
        assert due <= got <= due + timedelta(hours=25)
        assert window.allows(got.astimezone(ZoneInfo(zone)).time())


class TestDecisionsAcrossDst:
    @pytest.mark.parametrize(
        ("zone", "country", "occurred", "expected"),
        [
            # A 15-minute delay from 20:50 lands at 21:05 in Kolkata: deferred to 09:00.
            (
                "Asia/Kolkata",
                "IN",
                local("Asia/Kolkata", 2026, 11, 20, 20, 50),
                local("Asia/Kolkata", 2026, 11, 21, 9, 0),
            ),
            (
                "Asia/Kathmandu",
                "NP",
                local("Asia/Kathmandu", 2026, 11, 20, 20, 50),
                local("Asia/Kathmandu", 2026, 11, 21, 9, 0),
            ),
            # The night London's clocks go forward.
            (
                "Europe/London",
                "GB",
                local("Europe/London", 2026, 3, 28, 20, 50),
                local("Europe/London", 2026, 3, 29, 9, 0),
            ),
            # The night New York's clocks go back.
            (
                "America/New_York",
                "US",
                local("America/New_York", 2026, 10, 31, 20, 50),
                local("America/New_York", 2026, 11, 1, 9, 0),
            ),
        ],
    )
    def test_delay_then_quiet_hours(self, zone, country, occurred, expected):
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="tp", survey="s", delay_minutes=15)],
            quiet_hours=[
                QuietHours(country=country, send_from="09:00", send_until="21:00"),
            ],
        )
        customer = Customer(id="C-1", email="a@example.in", timezone=zone, country=country)
        visit = Interaction(id="I-1", touchpoint="tp", customer_id="C-1", occurred_at=occurred)
        decision = decide(rules, visit, customer, FatigueState(), ManualClock(occurred))
        assert decision.outcome is Outcome.INVITE
        assert decision.due_at == expected
        assert decision.deferred_by == f"quiet hours 09:00-21:00 ({country})"

    def test_exempt_channels_and_other_countries_are_not_deferred(self):
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="tp", survey="s", channels=["inapp", "email"])],
            quiet_hours=[QuietHours(country="IN", send_from="09:00", send_until="21:00")],
        )
        night = local("Asia/Kolkata", 2026, 11, 20, 23, 0)
        visit = Interaction(id="I-1", touchpoint="tp", customer_id="C-1", occurred_at=night)
        app = Customer(id="C-1", app_user_id="u1", timezone="Asia/Kolkata", country="IN")
        assert decide(rules, visit, app, FatigueState(), ManualClock(night)).due_at == night
        abroad = Customer(id="C-1", email="a@example.in", timezone="Asia/Kolkata", country="NP")
        assert decide(rules, visit, abroad, FatigueState(), ManualClock(night)).due_at == night


class TestDefinition:
    def test_bad_windows_name_every_field(self):
        with pytest.raises(ValidationError) as info:
            QuietHours(country="India", send_from="9am", send_until="25:00")
        assert [p.path for p in info.value.problems] == ["country", "send_from", "send_until"]
        assert "'9am' is not a time of day (expected 'HH:MM'" in str(info.value)

    def test_empty_window_is_refused(self):
        with pytest.raises(ValidationError, match="equals send_from"):
            QuietHours(country="*", send_from="09:00", send_until="09:00")

    def test_structured_from_plain_data(self):
        got = structure({"country": "IN", "send_from": "09:00", "send_until": "21:00"}, QuietHours)
        assert got == QuietHours(country="IN", send_from="09:00", send_until="21:00")
        with pytest.raises(DefinitionError, match="send_untl: is not a field"):
            structure({"country": "IN", "send_from": "09:00", "send_untl": "21:00"}, QuietHours)
