"""Deciding one interaction: priorities, caps, consent, channels, reminders and explain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from cxcore import (
    AlreadyInvitedError,
    Consent,
    Customer,
    Interaction,
    InviteGuard,
    ManualClock,
    Purpose,
    StoreLimitError,
    StratumFullError,
)
from cxcore.distribution import (
    ChannelPolicy,
    FatiguePolicy,
    FatigueState,
    Outcome,
    QuietHours,
    Reason,
    RuleSet,
    Sampling,
    TriggerRule,
    customer_zone,
    decide,
    decide_reminder,
    explain,
    invitation_id,
    record,
    skip_refused,
)

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # 11:30 in Kolkata
ASHA = Customer(
    id="C-1",
    email="asha@example.in",
    phone="+919812345678",
    timezone="Asia/Kolkata",
    country="IN",
    preferred_channels=["sms"],
)


def visit(
    n: int = 1,
    *,
    touchpoint: str = "billing",
    customer: str | None = "C-1",
    at: datetime = NOW,
    store: str | None = None,
) -> Interaction:
    return Interaction(
        id=f"I-{n}", touchpoint=touchpoint, customer_id=customer, occurred_at=at, store=store
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


class TestPriority:
    def test_highest_priority_wins_and_one_invitation_comes_out(self, clock):
        rules = RuleSet(
            rules=[
                TriggerRule(id="often", touchpoint="billing", survey="csat"),
                TriggerRule(id="nps", touchpoint="billing", survey="nps", priority=10),
            ]
        )
        d = decide(rules, visit(), ASHA, FatigueState(), clock)
        assert (d.outcome, d.rule, d.channel, d.address) == (
            Outcome.INVITE,
            "nps",
            "sms",
            ASHA.phone,
        )
        assert d.invitation_id == invitation_id("I-1", "nps")
        assert "+91" not in repr(d)

    def test_a_frequent_survey_does_not_starve_the_quarterly_nps(self, clock):
        """The NPS books the first free moment, and the frequent survey waits behind it."""
        rules = RuleSet(
            rules=[
                TriggerRule(id="often", touchpoint="billing", survey="csat"),
                TriggerRule(
                    id="nps",
                    touchpoint="review",
                    survey="nps",
                    priority=10,
                    max_wait_days=30,
                    recontact_days=90,
                ),
            ]
        )
        state = FatigueState()
        record(state, decide(rules, visit(1), ASHA, state, clock))  # csat now
        clock.advance(days=20)
        nps = decide(rules, visit(2, touchpoint="review"), ASHA, state, clock)
        assert nps.outcome is Outcome.INVITE
        assert nps.due_at == NOW + timedelta(days=30)
        assert nps.deferred_by == "recontact window"
        record(state, nps)
        clock.advance(days=15)  # past the first window, but inside the NPS's
        often = decide(rules, visit(3), ASHA, state, clock)
        assert often.reason is Reason.RECONTACT_WINDOW
        assert often.eligible_at == NOW + timedelta(days=60)


class TestEligibility:
    def test_unknown_customer_is_not_guessed(self, clock):
        rules = RuleSet(rules=[TriggerRule(id="r", touchpoint="billing", survey="s")])
        assert decide(rules, visit(), None, FatigueState(), clock).reason is Reason.UNKNOWN_CUSTOMER

    def test_wrong_customer_is_an_error(self, clock):
        rules = RuleSet(rules=[TriggerRule(id="r", touchpoint="billing", survey="s")])
        with pytest.raises(ValueError, match="'C-1' is not the interaction's customer 'C-2'"):
            decide(rules, visit(customer="C-2"), ASHA, FatigueState(), clock)

    def test_anonymous_visitors_get_inapp_or_kiosk(self, clock):
        rules = RuleSet(
            rules=[
                TriggerRule(
                    id="exit", touchpoint="store_exit", survey="s", channels=["sms", "kiosk"]
                )
            ]
        )
        d = decide(
            rules, visit(touchpoint="store_exit", customer=None), None, FatigueState(), clock
        )
        assert (d.outcome, d.channel, d.address) == (Outcome.INVITE, "kiosk", None)

    def test_opt_out_and_suppression_move_to_the_next_channel(self, clock):
        rules = RuleSet(rules=[TriggerRule(id="r", touchpoint="billing", survey="s")])
        stop = Consent("sms", Purpose.SURVEY, granted=False, source="sms_stop", recorded_at=NOW)
        asha = Customer(
            id="C-1",
            email="asha@example.in",
            phone="+919812345678",
            timezone="Asia/Kolkata",
            preferred_channels=["sms"],
            consents=[stop],
        )
        state = FatigueState()
        assert decide(rules, visit(), asha, state, clock).channel == "email"
        state.suppress("ASHA@example.in", "hard_bounce")
        d = decide(rules, visit(), asha, state, clock)
        assert d.reason is Reason.NO_CHANNEL
        text = str(explain(rules, visit(), asha, state, clock))
        assert "channel sms: opted out of surveys (sms_stop)" in text
        assert "channel email: the address is suppressed (hard_bounce)" in text

    def test_opt_in_required(self, clock):
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="billing", survey="s", channels=["sms"])],
            channels=ChannelPolicy(opt_in_required=["sms"]),
        )
        assert decide(rules, visit(), ASHA, FatigueState(), clock).reason is Reason.NO_CHANNEL

    def test_an_invitation_says_after_when_another_would_have_blocked_it(self, clock):
        """The guard: the due time less each window that applies, the same traced or not."""
        due = NOW + timedelta(minutes=10)
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="billing", survey="s", delay_minutes=10)],
            fatigue=FatiguePolicy(recontact_days=30),
        )
        fast = decide(rules, visit(), ASHA, FatigueState(), clock)
        traced = explain(rules, visit(), ASHA, FatigueState(), clock).decision
        assert fast.due_at == due
        assert fast.guard == InviteGuard(person_after=due - timedelta(days=30))
        assert traced.guard == fast.guard
        anonymous = decide(rules, visit(customer=None), None, FatigueState(), clock)
        assert anonymous.invite
        assert anonymous.guard is None  # nobody to ask twice
        unbounded = RuleSet(rules=rules.rules, fatigue=FatiguePolicy(recontact_days=0))
        assert decide(unbounded, visit(), ASHA, FatigueState(), clock).guard is None
        # A rule's own window, and the account window for a person of an account.
        windows = RuleSet(
            rules=[attrs.evolve(rules.rules[0], recontact_days=90)],
            fatigue=FatiguePolicy(recontact_days=0, account_days=7),
        )
        b2b = attrs.evolve(ASHA, account_id="ACME")
        expected = InviteGuard(
            survey_after=due - timedelta(days=90), account_after=due - timedelta(days=7)
        )
        assert decide(windows, visit(), b2b, FatigueState(), clock).guard == expected
        assert explain(windows, visit(), b2b, FatigueState(), clock).decision.guard == expected
        alone = decide(windows, visit(), ASHA, FatigueState(), clock).guard
        assert alone == InviteGuard(survey_after=due - timedelta(days=90))
        assert alone.windows() == ("survey_window",)
        # A store's daily limit, on the day it is due (in the policy's day time zone), anonymous too.
        capped = RuleSet(
            rules=rules.rules,
            fatigue=FatiguePolicy(
                recontact_days=0, store_daily_limit=40, day_timezone="Asia/Kolkata"
            ),
        )
        store_guard = InviteGuard(store="BLR-01", store_day=due.date().toordinal(), store_limit=40)
        for customer, who in ((ASHA, "C-1"), (None, None)):
            fast = decide(
                capped, visit(customer=who, store="BLR-01"), customer, FatigueState(), clock
            )
            explained = explain(
                capped, visit(customer=who, store="BLR-01"), customer, FatigueState(), clock
            )
            assert fast.guard == explained.decision.guard == store_guard, who
        assert decide(capped, visit(), ASHA, FatigueState(), clock).guard is None  # no store

    def test_a_refused_invitation_is_the_skip_of_its_window(self, clock):
        """skip_refused: the window's reason, when the person is eligible again, and the state told."""
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="billing", survey="s", recontact_days=90)],
            fatigue=FatiguePolicy(recontact_days=30, account_days=7),
        )
        b2b = attrs.evolve(ASHA, account_id="ACME")
        decision = decide(rules, visit(), b2b, FatigueState(), clock)
        assert decision.invite
        at = NOW - timedelta(hours=1)
        expected = {
            "recontact_window": (Reason.RECONTACT_WINDOW, at + timedelta(days=30)),
            "survey_window": (Reason.SURVEY_WINDOW, at + timedelta(days=90)),
            "account_window": (Reason.ACCOUNT_WINDOW, at + timedelta(days=7)),
        }
        for window, (reason, eligible) in expected.items():
            state = FatigueState()
            refused = AlreadyInvitedError("C-1", "inv-other", at, window=window, account_id="ACME")
            skip = skip_refused(rules, decision, refused, state)
            assert (skip.reason, skip.eligible_at, skip.rule) == (reason, eligible, "r")
            assert skip.interaction_id == decision.interaction_id
            # The next decision, on the state told, is the same skip.
            again = decide(rules, visit(), b2b, state, clock)
            assert (again.reason, again.eligible_at) == (reason, eligible), window
            if window == "account_window":
                assert state.last_invited("C-1") is None  # someone else of ACME was asked
            else:
                assert state.last_invited("C-1") == int(at.timestamp())

    def test_a_store_that_made_its_limit_elsewhere_is_skipped_until_its_next_day(self, clock):
        """skip_refused of a StoreLimitError: store_limit until midnight, and the state knows."""
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="billing", survey="s")],
            fatigue=FatiguePolicy(store_daily_limit=5, day_timezone="Asia/Kolkata"),
        )
        decision = decide(rules, visit(store="BLR-01"), ASHA, FatigueState(), clock)
        assert decision.invite
        assert decision.store_day is not None
        state = FatigueState()
        refused = StoreLimitError("BLR-01", decision.store_day, 5)
        skip = skip_refused(rules, decision, refused, state)
        midnight = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)  # 00:00 on the 21st in Kolkata
        assert (skip.reason, skip.eligible_at) == (Reason.STORE_LIMIT, midnight)
        assert state.store_count("BLR-01", decision.store_day) == 5
        again = decide(rules, visit(2, customer=None, store="BLR-01"), None, state, clock)
        assert (again.reason, again.eligible_at) == (Reason.STORE_LIMIT, midnight)

    def test_account_and_store_caps(self, clock):
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="billing", survey="s")],
            fatigue=FatiguePolicy(recontact_days=30, account_days=7, store_daily_limit=1),
        )
        state = FatigueState()
        a = Customer(id="A", email="a@example.in", account_id="ACME", timezone="UTC")
        b = Customer(id="B", email="b@example.in", account_id="ACME", timezone="UTC")
        c = Customer(id="C", email="c@example.in", timezone="UTC")
        record(state, decide(rules, visit(1, customer="A", store="S1"), a, state, clock))
        assert (
            decide(rules, visit(2, customer="B"), b, state, clock).reason is Reason.ACCOUNT_WINDOW
        )
        d = decide(rules, visit(3, customer="C", store="S1"), c, state, clock)
        assert d.reason is Reason.STORE_LIMIT
        assert d.eligible_at == datetime(2026, 11, 21, tzinfo=UTC)

    def test_stratified_sampling_keeps_small_stores(self, clock):
        rules = RuleSet(
            rules=[
                TriggerRule(
                    id="r",
                    touchpoint="billing",
                    survey="s",
                    sampling=Sampling(rate=0.0, by="store", min_per_day=2),
                )
            ],
            fatigue=FatiguePolicy(recontact_days=0),
        )
        state = FatigueState()
        got = []
        for n in range(4):
            d = decide(rules, visit(n, store="tiny"), ASHA, state, clock)
            record(state, d)
            got.append(d.outcome)
        assert got == [Outcome.INVITE, Outcome.INVITE, Outcome.SKIP, Outcome.SKIP]

    def test_only_an_invitation_taken_for_the_stratum_minimum_holds_it(self, clock):
        """Every invitation of a rule with a minimum names its stratum; one the draw refused holds the minimum.

        The draw comes first: an interaction it takes counts in its stratum
        (its guard names rule, stratum and day) and holds no minimum, whatever
        the stratum's count; one it refuses is taken while the stratum is
        under its minimum, and its guard holds the minimum too. The day is the
        interaction's, in the policy's day time zone. The same traced or not.
        """
        sampling = Sampling(rate=0.5, by="store", min_per_day=2)
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="billing", survey="s", sampling=sampling)],
            fatigue=FatiguePolicy(recontact_days=0, day_timezone="Asia/Kolkata"),
        )
        late = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # 01:30 on the 21st in Kolkata
        day = date(2026, 11, 21).toordinal()
        counted = InviteGuard(stratum_rule="r", stratum="BLR-01", stratum_day=day)
        state = FatigueState()
        drawn = forced = refused = 0
        for n in range(2, 42):  # I-0 and I-1 would be drawn: start where the draw says no
            interaction = visit(n, at=late, store="BLR-01")
            taken_by_draw = sampling.draw("r", interaction.id) < 0.5
            d = decide(rules, interaction, ASHA, state, clock)
            assert d == explain(rules, interaction, ASHA, state, clock).decision
            if taken_by_draw:
                drawn += 1
                assert d.guard == counted
                assert d.guard.windows() == ()
            elif state.stratum_count("r", "BLR-01", day) < 2:
                forced += 1
                assert d.guard == attrs.evolve(counted, stratum_min=2)
                assert d.guard.windows() == ("not_sampled",)
            else:
                refused += 1
                assert d.reason is Reason.NOT_SAMPLED
            record(state, d)
        assert (forced, drawn > 2, refused > 0) == (2, True, True)  # I-2 and I-3 were forced
        assert state.stratum_count("r", "BLR-01", day) == drawn + forced
        # No minimum, no stratum in the guard; a rate of 1 takes all, and counts them.
        for plain in (Sampling(rate=0.5, by="store"), Sampling(rate=0.5)):
            bare = RuleSet(
                rules=[TriggerRule(id="r", touchpoint="billing", survey="s", sampling=plain)],
                fatigue=FatiguePolicy(recontact_days=0),
            )
            taken = [
                d
                for n in range(10)
                if (d := decide(bare, visit(n, store="BLR-01"), ASHA, FatigueState(), clock)).invite
            ]
            assert taken
            assert all(d.guard is None for d in taken)
        every = RuleSet(
            rules=[
                TriggerRule(
                    id="r",
                    touchpoint="billing",
                    survey="s",
                    sampling=Sampling(rate=1.0, by="store", min_per_day=2),
                )
            ],
            fatigue=FatiguePolicy(recontact_days=0),
        )
        d = decide(every, visit(store="BLR-01"), ASHA, FatigueState(), clock)
        assert d.guard == InviteGuard(
            stratum_rule="r", stratum="BLR-01", stratum_day=NOW.date().toordinal()
        )

    def test_stratified_sampling_takes_the_same_invitations_as_before_in_one_process(self, clock):
        """In one process the draw-first order changes nothing: taken if under the minimum or drawn.

        The reference is the rule as it always read: the first min_per_day
        invitations of each store and day, then the rate.
        """
        sampling = Sampling(rate=0.3, by="store", min_per_day=4)
        rules = RuleSet(
            rules=[TriggerRule(id="r", touchpoint="billing", survey="s", sampling=sampling)],
            fatigue=FatiguePolicy(recontact_days=0),
        )
        state = FatigueState()
        counts: dict[tuple[str, int], int] = {}
        for n in range(600):
            store = f"S{n % 7 % 3}"
            at = NOW + timedelta(hours=n // 10)
            key = (store, at.date().toordinal())
            expected = counts.get(key, 0) < 4 or sampling.draw("r", f"I-{n}") < 0.3
            d = decide(rules, visit(n, at=at, store=store), ASHA, state, clock)
            assert d.invite is expected, n
            if expected:
                counts[key] = counts.get(key, 0) + 1
                record(state, d)
        assert len(counts) > 6  # several stores, several days

    def test_a_stratum_whose_minimum_was_met_elsewhere_is_not_sampled(self, clock):
        """skip_refused of a StratumFullError: the rule's not_sampled skip, and the state knows the count.

        Decided again on that state, the interaction goes to the next rule, as
        when the process knew the count all along.
        """
        sampling = Sampling(rate=0.0, by="store", min_per_day=3)
        rules = RuleSet(
            rules=[
                TriggerRule(
                    id="r", touchpoint="billing", survey="s", sampling=sampling, priority=1
                ),
                TriggerRule(id="fallback", touchpoint="billing", survey="t"),
            ],
            fatigue=FatiguePolicy(recontact_days=0),
        )
        decision = decide(rules, visit(store="BLR-01"), ASHA, FatigueState(), clock)
        assert decision.rule == "r"
        assert decision.guard is not None
        day = decision.guard.stratum_day
        assert day == NOW.date().toordinal()
        state = FatigueState()
        state.count_stratum("r", "BLR-01", day)  # this process made one of them
        skip = skip_refused(rules, decision, StratumFullError("r", "BLR-01", day, 3), state)
        assert (skip.outcome, skip.reason, skip.rule, skip.eligible_at) == (
            Outcome.SKIP,
            Reason.NOT_SAMPLED,
            "r",
            None,
        )
        assert skip.interaction_id == decision.interaction_id
        assert state.stratum_count("r", "BLR-01", day) == 3
        again = decide(rules, visit(store="BLR-01"), ASHA, state, clock)
        assert (again.outcome, again.rule) == (Outcome.INVITE, "fallback")
        assert again.guard is None
        state.stratum_counted("r", "BLR-01", day, 2)  # never lowers the count
        assert state.stratum_count("r", "BLR-01", day) == 3

    def test_a_guard_with_a_minimum_names_its_stratum(self):
        """stratum_min without the rule, stratum and day it is the minimum of is a mistake, said so."""
        with pytest.raises(
            ValueError,
            match=(
                r"stratum_min: 3 with stratum_rule='r', stratum=None, stratum_day=739940 "
                r"\(expected all three set: the minimum is of one rule's stratum on one day\)"
            ),
        ):
            InviteGuard(stratum_rule="r", stratum_day=739940, stratum_min=3)

    def test_sampling_rate_is_close_to_the_share(self, clock):
        rules = RuleSet(
            rules=[
                TriggerRule(id="r", touchpoint="billing", survey="s", sampling=Sampling(rate=0.3))
            ]
        )
        taken = sum(
            decide(rules, visit(n), ASHA, FatigueState(), clock).invite for n in range(4000)
        )
        assert 1050 < taken < 1350


class TestReminders:
    def test_reminders_stop_when_the_person_answers(self, clock):
        rules = RuleSet(
            rules=[
                TriggerRule(
                    id="r", touchpoint="billing", survey="s", reminders_after_hours=[24, 72]
                )
            ]
        )
        state = FatigueState()
        first = decide(rules, visit(), ASHA, state, clock)
        record(state, first)
        assert first.invitation_id is not None
        clock.advance(hours=30)  # 17:30 in Kolkata
        again = decide_reminder(rules, first.invitation_id, ASHA, state, clock)
        assert (again.outcome, again.reminder, again.channel) == (Outcome.INVITE, 1, "sms")
        record(state, again)
        state.answered("C-1", clock.now())
        stop = decide_reminder(rules, first.invitation_id, ASHA, state, clock)
        assert stop.reason is Reason.ANSWERED

    def test_reminders_run_out(self, clock):
        rules = RuleSet(
            rules=[
                TriggerRule(id="r", touchpoint="billing", survey="s", reminders_after_hours=[24])
            ]
        )
        state = FatigueState()
        first = decide(rules, visit(), ASHA, state, clock)
        record(state, first)
        assert first.invitation_id is not None
        record(state, decide_reminder(rules, first.invitation_id, ASHA, state, clock))
        done = decide_reminder(rules, first.invitation_id, ASHA, state, clock)
        assert done.reason is Reason.REMINDERS_DONE
        assert decide_reminder(rules, "nope", ASHA, state, clock).reason is Reason.NOT_OPEN

    def test_a_reminder_under_a_store_limit_is_guarded_by_that_limit_alone(self, clock):
        """A reminder's guard: its store's daily limit on the day it is due, no recontact window."""
        rules = RuleSet(
            rules=[
                TriggerRule(id="r", touchpoint="billing", survey="s", reminders_after_hours=[24])
            ],
            fatigue=FatiguePolicy(recontact_days=30, account_days=7, store_daily_limit=5),
        )
        b2b = attrs.evolve(ASHA, account_id="ACME")
        for n, store in ((1, "BLR-01"), (2, None)):
            state = FatigueState()
            first = decide(rules, visit(n, store=store, at=clock.now()), b2b, state, clock)
            assert first.guard is not None
            assert first.guard.windows()[:2] == ("recontact_window", "account_window")
            record(state, first)
            assert first.invitation_id is not None
            clock.advance(hours=30)
            reminder = decide_reminder(rules, first.invitation_id, b2b, state, clock)
            assert reminder.invite
            assert reminder.due_at == clock.now()
            if store is None:
                assert reminder.guard is None  # no store, no cap
                continue
            day = clock.now().date().toordinal()
            assert reminder.guard == InviteGuard(store=store, store_day=day, store_limit=5)
            assert reminder.guard.windows() == ("store_limit",)
            assert reminder.store_day == day

    def test_a_reminder_the_store_refused_is_booked_on_its_next_day_or_expires(self, clock):
        """skip_refused of a reminder: its store_limit skip, then decided again, the next day.

        Unless the invitation expires by then: then the reminder is skipped as
        expired, as decide_reminder skips one booked past its invitation's expiry.
        """
        rules = RuleSet(
            rules=[
                TriggerRule(
                    id="r", touchpoint="billing", survey="s", reminders_after_hours=[24]
                ),
                TriggerRule(
                    id="soon", touchpoint="kiosk", survey="s",
                    reminders_after_hours=[20], expires_days=1,
                ),
            ],
            fatigue=FatiguePolicy(recontact_days=0, store_daily_limit=3),
        )  # fmt: skip
        utc = attrs.evolve(ASHA, timezone="UTC", country=None)
        state = FatigueState()
        first = decide(rules, visit(store="BLR-01"), utc, state, clock)
        record(state, first)
        assert first.invitation_id is not None
        clock.advance(hours=24)  # 2026-11-21 06:00
        reminder = decide_reminder(rules, first.invitation_id, utc, state, clock)
        assert reminder.store_day is not None
        refused = StoreLimitError("BLR-01", reminder.store_day, 3)  # made elsewhere
        skip = skip_refused(rules, reminder, refused, state)
        midnight = datetime(2026, 11, 22, tzinfo=UTC)
        assert (skip.outcome, skip.reason, skip.eligible_at) == (
            Outcome.SKIP,
            Reason.STORE_LIMIT,
            midnight,
        )
        assert (skip.invitation_id, skip.customer_id, skip.rule) == (
            first.invitation_id,
            "C-1",
            "r",
        )
        assert state.store_count("BLR-01", reminder.store_day) == 3
        again = decide_reminder(rules, first.invitation_id, utc, state, clock)
        assert (again.outcome, again.reminder, again.due_at) == (Outcome.INVITE, 1, midnight)
        assert again.deferred_by == "store limit"
        assert again.guard == InviteGuard(
            store="BLR-01", store_day=midnight.date().toordinal(), store_limit=3
        )
        # An invitation that expires before the store's next day: no reminder.
        soon = decide(rules, visit(2, touchpoint="kiosk", store="BLR-02", at=clock.now()), utc,
                      state, clock)  # fmt: skip
        record(state, soon)
        assert soon.invitation_id is not None
        assert soon.expires_at == datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
        clock.advance(hours=20)  # 2026-11-22 02:00, 4 hours before it expires
        late = decide_reminder(rules, soon.invitation_id, utc, state, clock)
        assert late.invite
        assert late.store_day is not None
        expired = skip_refused(rules, late, StoreLimitError("BLR-02", late.store_day, 3), state)
        assert (expired.reason, expired.eligible_at) == (Reason.EXPIRED, None)
        assert expired.invitation_id == soon.invitation_id
        assert decide_reminder(rules, soon.invitation_id, utc, state, clock).reason is (
            Reason.EXPIRED
        )


class TestExplain:
    def test_explain_names_rule_cap_and_eligibility(self, clock):
        rules = RuleSet(
            rules=[
                TriggerRule(
                    id="blr_only", touchpoint="billing", survey="csat", where={"store": ["BLR"]}
                ),
                TriggerRule(id="all", touchpoint="billing", survey="csat"),
            ]
        )
        state = FatigueState()
        record(state, decide(rules, visit(1, store="DEL"), ASHA, state, clock))
        clock.advance(days=1)
        e = explain(rules, visit(2, store="DEL"), ASHA, state, clock)
        text = str(e)
        assert e.decision.reason is Reason.RECONTACT_WINDOW
        assert "rule 'blr_only' (survey 'csat', priority 0):" in text
        assert "filter: store is 'DEL', not one of ['BLR']" in text
        assert (
            "recontact window: invited for 2026-11-20T06:00:00+00:00; 30 days run until 2026-12-20T06:00:00+00:00"
            in text
        )
        assert text.endswith(
            "=> skip: recontact_window; eligible again at 2026-12-20T06:00:00+00:00"
        )

    def test_no_rule(self, clock):
        e = explain(RuleSet(), visit(), ASHA, FatigueState(), clock)
        assert e.decision.reason is Reason.NO_RULE
        assert "no trigger rule for touchpoint 'billing'" in str(e)


class TestTimeZones:
    """A missing time zone is never silently UTC."""

    RULES = RuleSet(
        rules=[TriggerRule(id="csat", touchpoint="billing", survey="csat")],
        quiet_hours=[QuietHours(country="*", send_from="09:00", send_until="21:00")],
    )

    def test_a_single_zone_country_gives_the_zone(self, clock):
        """An Indian customer without a zone is asked on Kolkata time (05:30 UTC is 11:00 there)."""
        india = Customer(id="C-1", email="asha@example.in", country="IN")
        d = decide(self.RULES, visit(), india, FatigueState(), clock)
        assert d.outcome is Outcome.INVITE
        assert (
            d.due_at == NOW
        )  # 11:30 in Kolkata: inside the window, not deferred as UTC 06:00 would be

    def test_an_unknown_zone_in_a_many_zone_country_is_not_guessed(self, clock):
        """A US customer without a zone is skipped, and explain says why."""
        somewhere = Customer(id="C-1", email="sam@example.com", country="US")
        d = decide(self.RULES, visit(), somewhere, FatigueState(), clock)
        assert (d.outcome, d.reason) == (Outcome.SKIP, Reason.NO_TIME_ZONE)
        text = str(explain(self.RULES, visit(), somewhere, FatigueState(), clock))
        assert "no time zone" in text

    def test_customer_zone(self):
        """Their own zone first, else their country's single zone, else none."""
        assert (
            customer_zone(Customer(id="C-1", timezone="Asia/Kathmandu", country="IN"))
            == "Asia/Kathmandu"
        )
        assert customer_zone(Customer(id="C-1", country="NP")) == "Asia/Kathmandu"
        assert customer_zone(Customer(id="C-1", country="US")) is None
        assert customer_zone(Customer(id="C-1")) is None
