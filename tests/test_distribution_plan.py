"""The compiled fast path of decide() makes exactly the decisions of the explain() reference."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxcore import Consent, Customer, Interaction, ManualClock, Purpose
from cxcore.distribution import (
    ChannelPolicy,
    Decision,
    FatiguePolicy,
    FatigueState,
    QuietHours,
    RuleSet,
    Sampling,
    SuppressionReason,
    TriggerRule,
    decide,
    explain,
    record,
)
from cxcore.distribution._plan import WindowPlan
from cxcore.distribution.quiet_hours import next_allowed, zone

# Around the spring and autumn DST changes of London and New York, and an ordinary day.
MOMENTS = (
    datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 45, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 50, tzinfo=UTC),
    datetime(2026, 11, 20, 15, 40, tzinfo=UTC),
)
ZONES = (None, "Asia/Kolkata", "Asia/Kathmandu", "Europe/London", "America/New_York", "UTC")
COUNTRIES = (None, "IN", "NP", "GB", "US")
TOUCHPOINTS = ("billing", "support", "website")
CHANNELS = ("email", "sms", "inapp", "kiosk", "whatsapp", "pager")  # pager has no address kind
STORES = (None, "S1", "S2")
AGENTS = (None, "A1", "A2")
PEOPLE = 6


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def quiet_hours(draw: st.DrawFn, country: str) -> QuietHours:
    start = draw(st.integers(0, 24 * 4 - 1)) * 15
    length = draw(st.integers(1, 24 * 4 - 1)) * 15
    return QuietHours(
        country=country,
        send_from=_hhmm(start),
        send_until=_hhmm((start + length) % (24 * 60)),
        exempt_channels=draw(st.sampled_from(((), ("inapp", "kiosk"), ("sms",)))),
    )


@st.composite
def trigger_rules(draw: st.DrawFn, n: int) -> TriggerRule:
    where: dict[str, list[object]] = {}
    for key, values in (
        ("store", ["S1", "S2"]),
        ("agent", ["A1", "A2"]),
        ("tier", ["gold", "basic"]),
        ("late", [True, 1, False]),
    ):
        if draw(st.integers(0, 5)) == 0:
            where[key] = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2))
    by = draw(st.sampled_from((None, None, "store", "agent", "tier")))
    return TriggerRule(
        id=f"r{n}",
        touchpoint=TOUCHPOINTS[n] if n < 2 else draw(st.sampled_from(TOUCHPOINTS[:2])),
        survey=draw(st.sampled_from(("csat", "nps", "ces"))),
        where=where,
        delay_minutes=draw(st.sampled_from((0, 0, 15, 600, 1440))),
        sampling=Sampling(
            rate=draw(st.sampled_from((1.0, 1.0, 0.5, 0.1, 0.0))),
            by=by,
            min_per_day=draw(st.integers(0, 2)) if by is not None else 0,
        ),
        priority=draw(st.integers(0, 3)),
        recontact_days=draw(st.sampled_from((None, None, 1, 90))),
        channels=draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=3)),
        reminders_after_hours=draw(st.sampled_from(((), (24,), (24, 48)))),
        max_wait_days=draw(st.sampled_from((None, None, 0, 2, 30))),
        expires_days=draw(st.integers(1, 9)),
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    count = draw(st.integers(2, 6))
    countries = draw(st.lists(st.sampled_from(("IN", "GB", "US", "*")), unique=True, max_size=3))
    return RuleSet(
        rules=[draw(trigger_rules(i)) for i in range(count)],
        fatigue=FatiguePolicy(
            recontact_days=draw(st.sampled_from((0, 1, 30))),
            account_days=draw(st.sampled_from((None, 1, 7))),
            store_daily_limit=draw(st.sampled_from((None, 1, 2))),
            day_timezone=draw(st.sampled_from(("UTC", "Asia/Kolkata", "America/New_York"))),
        ),
        quiet_hours=[draw(quiet_hours(c)) for c in countries],
        channels=ChannelPolicy(
            fallback=draw(st.sampled_from((("email", "sms", "inapp"), ("sms",), ()))),
            anonymous=draw(st.sampled_from((("inapp", "kiosk"), ("kiosk",)))),
            opt_in_required=draw(st.sampled_from(((), ("sms",), ("email", "whatsapp")))),
        ),
    )


@st.composite
def customers(draw: st.DrawFn, i: int, at: datetime) -> Customer:
    consents = [
        Consent(
            channel,
            Purpose.SURVEY,
            granted=draw(st.booleans()),
            source="test",
            recorded_at=at - timedelta(days=draw(st.integers(0, 9))),
        )
        for channel in draw(st.lists(st.sampled_from((*CHANNELS, "*")), max_size=2))
    ]
    return Customer(
        id=f"C-{i}",
        email=f"p{i}@example.in" if draw(st.integers(0, 3)) else None,
        phone=f"+9198{i:08d}" if draw(st.booleans()) else None,
        app_user_id=f"u{i}" if draw(st.booleans()) else None,
        timezone=draw(st.sampled_from(ZONES)),
        country=draw(st.sampled_from(COUNTRIES)),
        account_id=draw(st.sampled_from((None, "ACME", "GLOBEX"))),
        preferred_channels=draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=2)),
        consents=consents,
    )


@st.composite
def states(draw: st.DrawFn, at: datetime) -> FatigueState:
    state = FatigueState()
    base = int(at.timestamp())
    for i in draw(st.lists(st.integers(0, PEOPLE - 1), max_size=PEOPLE)):
        state.invited(
            f"C-{i}",
            base - draw(st.integers(-2, 100)) * 21_600,
            account_id=draw(st.sampled_from((None, "ACME", "GLOBEX"))),
            survey=draw(st.sampled_from((None, "csat", "nps"))),
            store=draw(st.sampled_from(STORES)),
            store_day=at.date().toordinal() + draw(st.integers(-1, 1)),
        )
    for key in draw(
        st.lists(st.sampled_from(("C-1", "p2@example.in", "+919800000003", "u4")), max_size=2)
    ):
        state.suppress(key, draw(st.sampled_from(SuppressionReason)))
    for _ in range(draw(st.integers(0, 3))):
        state.count_stratum(
            f"r{draw(st.integers(0, 5))}",
            draw(st.sampled_from(("S1", "A1", "gold", ""))),
            at.date().toordinal(),
        )
    return state


@st.composite
def interactions(draw: st.DrawFn, n: int, at: datetime) -> Interaction:
    person = draw(st.integers(-1, PEOPLE))  # -1: anonymous; PEOPLE: not in the customer table
    attributes: dict[str, object] = {}
    if draw(st.booleans()):
        attributes["tier"] = draw(st.sampled_from(("gold", "basic", "platinum")))
    if draw(st.booleans()):
        attributes["late"] = draw(st.sampled_from((True, False, 1, 0, 1.0)))
    return Interaction(
        id=f"I-{n}-{draw(st.integers(0, 10**6))}",
        touchpoint=draw(st.sampled_from((*TOUCHPOINTS[:2], *TOUCHPOINTS))),
        customer_id=None if person < 0 else f"C-{person}",
        occurred_at=at - timedelta(minutes=draw(st.integers(-30, 600))),
        store=draw(st.sampled_from(STORES)),
        agent=draw(st.sampled_from(AGENTS)),
        attributes=attributes,
    )


def _same(rules: RuleSet, it: Interaction, who: Customer | None, state: FatigueState, clock):
    fast = decide(rules, it, who, state, clock)
    reference = explain(rules, it, who, state, clock).decision
    assert fast == reference, (fast, reference)
    assert repr(fast) == repr(reference)
    # The fast path fills a decision's fields itself: every one is there, as __init__ sets it.
    assert vars(fast) == vars(reference)
    assert type(fast) is Decision
    return fast


@st.composite
def scenarios(draw: st.DrawFn):
    at = draw(st.sampled_from(MOMENTS)) + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    people = {f"C-{i}": draw(customers(i, at)) for i in range(PEOPLE)}
    visits = [draw(interactions(n, at)) for n in range(draw(st.integers(1, 12)))]
    return draw(rule_sets()), draw(states(at)), people, visits, at


class TestFastPathAgreesWithExplain:
    @settings(max_examples=300)
    @given(scenarios())
    def test_every_decision_is_the_reference_decision(self, scenario):
        """decide() and explain() agree on every interaction, as the state fills up."""
        rules, state, people, visits, at = scenario
        clock = ManualClock(at)
        for it in visits:
            who = people.get(it.customer_id) if it.customer_id is not None else None
            decision = _same(rules, it, who, state, clock)
            record(state, decision)
            clock.advance(minutes=7)

    @given(scenarios())
    def test_the_same_plan_decides_again_after_its_caches_are_warm(self, scenario):
        """Caches filled by one decision never change the next one (same input, same answer)."""
        rules, state, people, visits, at = scenario
        clock = ManualClock(at)
        first: list[Decision] = []
        for _ in range(2):
            decisions = [
                _same(rules, it, people.get(it.customer_id or ""), state, clock) for it in visits
            ]
            if first:
                assert decisions == first
            first = decisions

    def test_the_fast_path_still_names_a_wrong_customer(self):
        """Passing another customer's record is an error on both paths."""
        rules = RuleSet(rules=[TriggerRule(id="r", touchpoint="billing", survey="csat")])
        it = Interaction(id="I-1", touchpoint="billing", customer_id="C-1", occurred_at=MOMENTS[0])
        clock = ManualClock(MOMENTS[0])
        with pytest.raises(ValueError, match="'C-2' is not the interaction's customer 'C-1'"):
            decide(rules, it, Customer(id="C-2"), FatigueState(), clock)


class TestCornersTheRandomSearchRarelyHits:
    def test_a_booking_that_lands_in_quiet_hours_keeps_its_first_reason(self):
        """Booked at the end of the window, then moved out of quiet hours: both paths agree."""
        at = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
        rules = RuleSet(
            rules=[
                TriggerRule(
                    id="nps", touchpoint="review", survey="nps", max_wait_days=30, expires_days=3
                )
            ],
            fatigue=FatiguePolicy(recontact_days=30),
            quiet_hours=[QuietHours(country="IN", send_from="09:00", send_until="21:00")],
        )
        asha = Customer(id="C-1", email="asha@example.in", timezone="Asia/Kolkata", country="IN")
        state = FatigueState()
        # The window ends on 21 November at 17:30 UTC, 23:00 in Kolkata: inside quiet hours.
        state.invited("C-1", int(datetime(2026, 10, 22, 17, 30, tzinfo=UTC).timestamp()))
        it = Interaction(id="I-1", touchpoint="review", customer_id="C-1", occurred_at=at)
        decision = _same(rules, it, asha, state, ManualClock(at))
        assert decision.deferred_by == "recontact window"
        assert decision.due_at == datetime(2026, 11, 22, 3, 30, tzinfo=UTC)  # 09:00 in Kolkata

    @pytest.mark.parametrize(
        ("send_from", "send_until", "local", "sent_at"),
        [
            ("09:00", "21:00", "08:59:59.999999", "09:00"),
            ("09:00", "21:00", "09:00:00", "09:00"),
            ("09:00", "21:00", "20:59:59.999999", "20:59:59.999999"),
            ("09:00", "21:00", "21:00:00", "09:00+1"),
            ("22:00", "06:00", "05:59:59.999999", "05:59:59.999999"),
            ("22:00", "06:00", "06:00:00", "22:00"),
            ("22:00", "06:00", "21:59:59.999999", "22:00"),
            ("22:00", "06:00", "22:00:00", "22:00"),
        ],
    )
    def test_the_bounds_of_a_window_at_plus_0545(self, send_from, send_until, local, sent_at):
        """Opening and closing instants, to the microsecond, in Kathmandu: both paths agree."""
        kathmandu = timezone(timedelta(hours=5, minutes=45))
        day = datetime(2026, 11, 20, tzinfo=kathmandu)
        at = datetime.combine(day.date(), time.fromisoformat(local), tzinfo=kathmandu)
        hhmm, _, next_day = sent_at.partition("+")
        expected = datetime.combine(
            day.date() + timedelta(days=int(next_day or 0)),
            time.fromisoformat(hhmm),
            tzinfo=kathmandu,
        )
        rules = RuleSet(
            rules=[TriggerRule(id="csat", touchpoint="billing", survey="csat")],
            quiet_hours=[QuietHours(country="NP", send_from=send_from, send_until=send_until)],
        )
        ram = Customer(id="C-1", email="ram@example.np", timezone="Asia/Kathmandu", country="NP")
        it = Interaction(id="I-1", touchpoint="billing", customer_id="C-1", occurred_at=at)
        decision = _same(rules, it, ram, FatigueState(), ManualClock(at))
        assert decision.due_at == expected


class TestWindowPlan:
    def test_openings_within_a_microsecond_are_compared_as_next_allowed_compares_them(self):
        """Timestamps a fraction of a microsecond from the opening give next_allowed's answer."""
        window = QuietHours(country="NP", send_from="09:00", send_until="21:00")
        plan = WindowPlan(window)
        kathmandu = zone("Asia/Kathmandu")
        opening = datetime(2026, 11, 20, 9, 0, tzinfo=kathmandu).timestamp()
        for tenths in range(-40, 1):
            due = opening + tenths * 1e-7
            local = datetime.fromtimestamp(due, kathmandu)
            if window.allows(local.time()):  # rounded to the opening: no deferral
                continue
            expected = next_allowed(local, "Asia/Kathmandu", window).timestamp()
            assert plan.opens(local, due, "Asia/Kathmandu") == expected, tenths

    def test_an_opening_in_a_dst_gap_a_fraction_of_a_microsecond_ago(self):
        """02:30 does not exist in New York on 8 March 2026: the window opens at the instant
        02:30 EST names, 03:30 EDT, already past the 03:00 close. A time a fraction of a
        microsecond after it rounds to it, and next_allowed sends at that opening, not a
        day later."""
        window = QuietHours(country="US", send_from="02:30", send_until="03:00")
        plan = WindowPlan(window)
        new_york = zone("America/New_York")
        opening = datetime(2026, 3, 8, 2, 30, tzinfo=new_york).timestamp()
        due = opening + 3e-7
        local = datetime.fromtimestamp(due, new_york)
        assert not window.allows(local.time())
        expected = next_allowed(local, "America/New_York", window).timestamp()
        assert expected == opening
        assert plan.opens(local, due, "America/New_York") == expected
