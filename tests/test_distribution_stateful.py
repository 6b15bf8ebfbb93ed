"""Random interaction streams: the invariants of distribution hold whatever happens."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from cxcore import Consent, Customer, Interaction, ManualClock, Purpose
from cxcore.distribution import (
    ChannelPolicy,
    FatiguePolicy,
    FatigueState,
    Outcome,
    QuietHours,
    Reason,
    RuleSet,
    SuppressionReason,
    TriggerRule,
    customer_zone,
    decide,
    decide_reminder,
    explain,
    next_allowed,
    record,
)

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # London and New York change clocks in March
WINDOW = timedelta(days=30)
ACCOUNT_WINDOW = timedelta(days=7)
STORE_LIMIT = 3
ZONES = ("Asia/Kolkata", "Asia/Kathmandu", "Europe/London", "America/New_York")

RULES = RuleSet(
    rules=[
        TriggerRule(id="csat", touchpoint="billing", survey="csat", reminders_after_hours=[24, 48]),
        TriggerRule(
            id="vip_nps",
            touchpoint="billing",
            survey="nps",
            priority=5,
            recontact_days=90,
            where={"store": ["S1"]},
        ),
        TriggerRule(id="ces", touchpoint="support", survey="ces", delay_minutes=15),
    ],
    fatigue=FatiguePolicy(recontact_days=30, account_days=7, store_daily_limit=STORE_LIMIT),
    quiet_hours=[
        QuietHours(country="IN", send_from="09:00", send_until="21:00"),
        QuietHours(country="*", send_from="08:00", send_until="20:00"),
    ],
    channels=ChannelPolicy(fallback=["email", "sms"]),
)


def _customer(i: int) -> Customer:
    return Customer(
        id=f"C-{i}",
        email=f"p{i}@example.in" if i % 3 else None,
        phone=f"+9198{i:08d}" if i % 2 else None,
        timezone=ZONES[i % len(ZONES)],
        country=("IN", "NP", "GB", "US")[i % 4],
        account_id="ACME" if i in {4, 5} else None,
    )


class Distribution(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(START)
        self.state = FatigueState()
        self.people = {f"C-{i}": _customer(i) for i in range(8)}
        self.blocked: set[str] = set()  # suppressed addresses, and opt-outs as "C-1:sms"
        self.sends: dict[str, list[datetime]] = defaultdict(list)  # first sends per person
        self.survey_sends: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        self.account_sends: dict[str, list[datetime]] = defaultdict(list)
        self.store_days: dict[tuple[str, object], int] = defaultdict(int)
        self.answered_at: dict[str, datetime] = {}
        self.reminders: list[tuple[str, str, datetime]] = []
        self.count = 0

    # -- the oracle: a plain restatement of the policy ---------------------------------

    def usable(self, customer: Customer, channel: str) -> bool:
        address = customer.email if channel == "email" else customer.phone
        return (
            address is not None
            and address not in self.blocked
            and f"{customer.id}:{channel}" not in self.blocked
        )

    def expected_rule(self, visit: Interaction, customer: Customer) -> str | None:
        """The rule that must invite, or None if nobody may be asked."""
        if not any(self.usable(customer, c) for c in ("email", "sms")):
            return None
        window = RULES.window(customer.country)
        for r in RULES.matching(visit.touchpoint):
            if r.mismatch(visit) is not None:
                continue
            due = max(self.clock.now(), visit.occurred_at + timedelta(minutes=r.delay_minutes))
            zone = customer_zone(customer)
            assert zone is not None  # every generated customer has a time zone
            due = next_allowed(due, zone, window)
            earlier = self.sends[customer.id]
            if earlier and due < max(earlier) + WINDOW:
                continue
            same_survey = self.survey_sends[customer.id, r.survey]
            if (
                r.recontact_days is not None
                and same_survey
                and due < max(same_survey) + timedelta(days=r.recontact_days)
            ):
                continue  # the survey's own, tighter window
            account = customer.account_id
            if (
                account
                and self.account_sends[account]
                and (due < max(self.account_sends[account]) + ACCOUNT_WINDOW)
            ):
                continue
            if visit.store and self.store_days[visit.store, due.date()] >= STORE_LIMIT:
                continue
            return r.id
        return None

    # -- steps ------------------------------------------------------------------------

    @rule(hours=st.integers(0, 24 * 20), minutes=st.integers(0, 59))
    def wait(self, hours, minutes):
        self.clock.advance(hours=hours, minutes=minutes)

    @rule(
        person=st.integers(0, 7),
        touchpoint=st.sampled_from(("billing", "support", "website")),
        store=st.sampled_from((None, "S1", "S2")),
    )
    def interact(self, person, touchpoint, store):
        self.count += 1
        customer = self.people[f"C-{person}"]
        visit = Interaction(
            id=f"I-{self.count}",
            touchpoint=touchpoint,
            customer_id=customer.id,
            occurred_at=self.clock.now(),
            store=store,
        )
        expected = self.expected_rule(visit, customer)
        decision = decide(RULES, visit, customer, self.state, self.clock)
        # Deciding is pure: the same question gets the same answer, and explain agrees.
        assert decide(RULES, visit, customer, self.state, self.clock) == decision
        assert explain(RULES, visit, customer, self.state, self.clock).decision == decision
        assert decision.interaction_id == visit.id
        assert decision.rule == expected or decision.outcome is Outcome.SKIP, decision
        if expected is None:
            assert decision.outcome is Outcome.SKIP, (decision, expected)
            return
        assert decision.outcome is Outcome.INVITE, (decision, expected)
        assert decision.rule == expected
        assert decision.channel is not None
        assert self.usable(customer, decision.channel)
        assert decision.due_at is not None
        assert decision.due_at >= visit.occurred_at
        record(self.state, decision)
        self.sends[customer.id].append(decision.due_at)
        assert decision.survey is not None
        self.survey_sends[customer.id, decision.survey].append(decision.due_at)
        if customer.account_id:
            self.account_sends[customer.account_id].append(decision.due_at)
        if store:
            self.store_days[store, decision.due_at.date()] += 1

    @rule(person=st.integers(0, 7), channel=st.sampled_from(("email", "sms")))
    def opt_out(self, person, channel):
        customer = self.people[f"C-{person}"]
        consent = Consent(
            channel, Purpose.SURVEY, granted=False, source="sms_stop", recorded_at=self.clock.now()
        )
        self.people[customer.id] = attrs.evolve(customer, consents=(*customer.consents, consent))
        self.blocked.add(f"{customer.id}:{channel}")

    @rule(person=st.integers(0, 7), reason=st.sampled_from(SuppressionReason))
    def bounce(self, person, reason):
        customer = self.people[f"C-{person}"]
        if customer.email:
            self.state.suppress(customer.email, reason)
            self.blocked.add(customer.email)

    @rule(person=st.integers(0, 7))
    def answer(self, person):
        self.state.answered(f"C-{person}", self.clock.now())
        self.answered_at[f"C-{person}"] = self.clock.now()

    @rule()
    def remind(self):
        for inv in list(self.state.open_invitations()):
            customer = self.people[inv.customer_id]
            decision = decide_reminder(RULES, inv.invitation_id, customer, self.state, self.clock)
            answered = self.answered_at.get(inv.customer_id)
            if answered is not None and answered.timestamp() >= inv.due:
                assert decision.reason is Reason.ANSWERED
            if decision.outcome is Outcome.INVITE:
                assert decision.channel == inv.channel
                assert self.usable(customer, inv.channel)
                assert decision.reminder == inv.reminders + 1 <= 2
                record(self.state, decision)
                self.reminders.append((inv.invitation_id, inv.customer_id, self.clock.now()))

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def nobody_twice_inside_the_window(self):
        for dues in self.sends.values():
            ordered = sorted(dues)
            assert all(b - a >= WINDOW for a, b in pairwise(ordered))

    @invariant()
    def accounts_and_stores_keep_their_caps(self):
        for dues in self.account_sends.values():
            ordered = sorted(dues)
            assert all(b - a >= ACCOUNT_WINDOW for a, b in pairwise(ordered))
        assert all(n <= STORE_LIMIT for n in self.store_days.values())


Distribution.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestDistribution = Distribution.TestCase
