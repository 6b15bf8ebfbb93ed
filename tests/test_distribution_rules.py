"""Rule sets as data: Python and definition files, round trips, and errors with paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxcore import DefinitionError, Journey, Stage, Survey, Touchpoint, ValidationError
from cxcore.definitions import Definitions, dumps, loads
from cxcore.distribution import (
    ChannelPolicy,
    FatiguePolicy,
    QuietHours,
    RuleSet,
    Sampling,
    TriggerRule,
    load_rules,
    loads_rules,
)
from cxcore.model import NpsQuestion

ids = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)
channels = st.sampled_from(("email", "sms", "inapp", "kiosk", "whatsapp"))
scalars = st.one_of(ids, st.integers(-1000, 1000))

samplings = st.one_of(
    st.builds(Sampling, rate=st.floats(0, 1)),
    st.builds(
        Sampling,
        rate=st.floats(0, 1),
        by=st.sampled_from(("store", "agent", "city")),
        min_per_day=st.integers(0, 50),
    ),
)

trigger_rules = st.builds(
    TriggerRule,
    id=ids,
    touchpoint=ids,
    survey=ids,
    where=st.dictionaries(
        st.sampled_from(("store", "agent", "channel", "city", "tier")),
        st.lists(scalars, min_size=1, max_size=3),
        max_size=2,
    ),
    delay_minutes=st.integers(0, 10_000),
    sampling=samplings,
    priority=st.integers(-10, 10),
    recontact_days=st.none() | st.integers(1, 365),
    channels=st.lists(channels, unique=True, max_size=3),
    reminders_after_hours=st.lists(st.integers(1, 200), unique=True, max_size=3).map(sorted),
    max_wait_days=st.none() | st.integers(0, 120),
    expires_days=st.integers(1, 60),
)

rule_sets = st.builds(
    RuleSet,
    rules=st.lists(trigger_rules, max_size=5, unique_by=lambda r: r.id),
    fatigue=st.builds(
        FatiguePolicy,
        recontact_days=st.integers(0, 120),
        account_days=st.none() | st.integers(1, 30),
        store_daily_limit=st.none() | st.integers(1, 1000),
        day_timezone=st.sampled_from(("UTC", "Asia/Kolkata", "Asia/Kathmandu")),
    ),
    quiet_hours=st.lists(
        st.builds(
            QuietHours,
            country=st.sampled_from(("IN", "NP", "GB", "US", "*")),
            send_from=st.sampled_from(("08:00", "09:00", "22:00")),
            send_until=st.sampled_from(("20:00", "21:00", "06:00")),
            exempt_channels=st.lists(channels, unique=True, max_size=2),
        ),
        max_size=3,
        unique_by=lambda q: q.country,
    ),
    channels=st.builds(
        ChannelPolicy,
        fallback=st.lists(channels, unique=True, max_size=3),
        opt_in_required=st.lists(channels, unique=True, max_size=2),
    ),
)

EXAMPLE = """
[fatigue]
recontact_days = 30
account_days = 7
store_daily_limit = 200

[[quiet_hours]]
country = "IN"
send_from = "09:00"
send_until = "21:00"

[[rules]]
id = "billing_csat"
touchpoint = "billing_counter"
survey = "csat_visit"
delay_minutes = 15
where = { store = ["BLR-01", "DEL-02"] }
sampling = { rate = 0.25, by = "store", min_per_day = 20 }
reminders_after_hours = [48]

[[rules]]
id = "quarterly_nps"
touchpoint = "account_review"
survey = "nps_relationship"
priority = 10
recontact_days = 90
max_wait_days = 30
"""


class TestRoundTrip:
    @settings(max_examples=60, deadline=None)
    @given(rule_sets)
    def test_json(self, rules):
        """Every valid rule set reads back equal from its JSON."""
        assert loads(dumps(rules), RuleSet) == rules

    @settings(max_examples=60, deadline=None)
    @given(rule_sets)
    def test_toml(self, rules):
        """Every valid rule set reads back equal from its TOML."""
        assert loads_rules(dumps(rules, format="toml")) == rules

    def test_python_and_toml_say_the_same(self):
        from_file = loads_rules(EXAMPLE)
        in_python = RuleSet(
            fatigue=FatiguePolicy(recontact_days=30, account_days=7, store_daily_limit=200),
            quiet_hours=[QuietHours(country="IN", send_from="09:00", send_until="21:00")],
            rules=[
                TriggerRule(
                    id="billing_csat",
                    touchpoint="billing_counter",
                    survey="csat_visit",
                    delay_minutes=15,
                    where={"store": ["BLR-01", "DEL-02"]},
                    sampling=Sampling(rate=0.25, by="store", min_per_day=20),
                    reminders_after_hours=[48],
                ),
                TriggerRule(
                    id="quarterly_nps",
                    touchpoint="account_review",
                    survey="nps_relationship",
                    priority=10,
                    recontact_days=90,
                    max_wait_days=30,
                ),
            ],
        )
        assert from_file == in_python
        assert [r.id for r in from_file.matching("billing_counter")] == ["billing_csat"]


class TestErrors:
    def test_every_bad_rule_is_named_with_its_path(self):
        text = """
[fatigue]
recontact_days = -1
store_daily_limt = 3

[[rules]]
id = "ok"
touchpoint = "tp"
survey = "s"

[[rules]]
id = "bad rate"
touchpoint = "tp"
survey = "s"
sampling = { rate = 1.5 }

[[rules]]
id = "two"
touchpoint = "tp"
survey = "s"
delay_minutes = "15"
reminders_after_hours = [48, 24]
where = { store = [] }

[[quiet_hours]]
country = "IN"
send_from = "9"
send_until = "21:00"
"""
        with pytest.raises(DefinitionError) as info:
            loads_rules(text, source="rules.toml")
        problems = {(p.path, p.message) for p in info.value.problems}
        paths = {p for p, _ in problems}
        assert "fatigue.recontact_days" in paths
        assert (
            "fatigue.store_daily_limt",
            "is not a field of a FatiguePolicy (did you mean 'store_daily_limit'?)",
        ) in problems
        assert any(p == "rules[1].id" for p in paths)
        assert ("rules[1].sampling.rate", "1.5 is not a share from 0 to 1") in problems
        assert ("rules[2].delay_minutes", "'15' is not a whole number") in problems
        assert "rules[2].where.store" in paths
        assert (
            "rules[2].reminders_after_hours[1]",
            "24 is not after the previous reminder (48 hours)",
        ) in problems
        assert "quiet_hours[0].send_from" in paths
        assert str(info.value).startswith("rules.toml: ")
        assert not any(p.startswith("rules[0]") for p in paths)

    def test_python_construction_lists_every_problem(self):
        with pytest.raises(ValidationError) as info:
            TriggerRule(
                id="r",
                touchpoint="tp",
                survey="s",
                delay_minutes=-5,
                expires_days=0,
                where={"touchpoint": ["x"]},
                channels=["sms", "sms"],
            )
        paths = [p.path for p in info.value.problems]
        assert paths == ["where.touchpoint", "delay_minutes", "channels[1]", "expires_days"]
        assert "-5 is not 0 or more" in str(info.value)

    def test_repeated_ids_name_both_places(self):
        rule = TriggerRule(id="r", touchpoint="tp", survey="s")
        with pytest.raises(ValidationError, match=r"rules\[1\]: 'r' is already used by rules\[0\]"):
            RuleSet(rules=[rule, rule])

    def test_min_per_day_needs_a_stratum(self):
        with pytest.raises(ValidationError, match="needs a stratum"):
            Sampling(rate=0.5, min_per_day=3)

    def test_unknown_channel_kind(self):
        with pytest.raises(ValidationError, match=r"fallback\[0\]: 'fax' has no address kind"):
            ChannelPolicy(fallback=["fax"])


class TestAgainstDefinitions:
    @pytest.fixture
    def definitions(self):
        survey = Survey(
            id="csat_visit",
            title={"en": "Visit"},
            questions=[NpsQuestion(id="ltr", text={"en": "Recommend?"})],
        )
        journey = Journey(
            id="retail",
            name="Retail",
            stages=[
                Stage("buy", "Buy", [Touchpoint("billing_counter", "Billing", "mgr", ["sms"])])
            ],
        )
        return Definitions(journeys=[journey], surveys=[survey])

    def test_unknown_surveys_and_touchpoints(self, definitions):
        with pytest.raises(DefinitionError) as info:
            loads_rules(EXAMPLE, definitions=definitions)
        assert [str(p) for p in info.value.problems] == [
            "rules[1].survey: 'nps_relationship' is not a defined survey (defined: csat_visit)",
            (
                "rules[1].touchpoint: 'account_review' is not a touchpoint of any journey "
                "(defined: billing_counter)"
            ),
        ]

    def test_rules_take_their_touchpoints_channels(self, definitions, tmp_path: Path):
        path = tmp_path / "rules.toml"
        path.write_text(EXAMPLE.split('[[rules]]\nid = "quarterly_nps"', 1)[0], encoding="utf-8")
        rules = load_rules(path, definitions=definitions)
        assert rules.rule("billing_csat").channels == ("sms",)

    def test_file_suffix(self, tmp_path: Path):
        path = tmp_path / "rules.yaml"
        path.write_text("", encoding="utf-8")
        with pytest.raises(DefinitionError, match=r"has suffix '\.yaml'"):
            load_rules(path)
        with pytest.raises(KeyError, match="no trigger rule 'x'; defined: none"):
            RuleSet().rule("x")


class TestOnChannels:
    def test_only_the_channels_a_deployment_runs_are_chosen(self):
        """A rule set kept to SMS never invites by email, even where email is the only address."""
        from datetime import UTC, datetime  # noqa: PLC0415

        from cxcore import AddressKind, Customer, Interaction, ManualClock  # noqa: PLC0415
        from cxcore.distribution import FatigueState, Outcome, Reason, decide  # noqa: PLC0415

        rules = load_rules(Path(__file__).parent.parent / "examples/retail/rules/bazaar.toml")
        clock = ManualClock(datetime(2026, 12, 7, 5, 0, tzinfo=UTC))
        visit = Interaction(
            id="I-1", touchpoint="support_call", customer_id="C-1", occurred_at=clock.now()
        )
        email_only = Customer(id="C-1", email="c1@example.in", timezone="Asia/Kolkata")
        both = Customer(
            id="C-1", email="c1@example.in", phone="+919800000001", timezone="Asia/Kolkata"
        )
        assert decide(rules, visit, email_only, FatigueState(), clock).channel == "email"
        kept = rules.on_channels({"sms": AddressKind.PHONE})
        skipped = decide(kept, visit, email_only, FatigueState(), clock)
        assert skipped.outcome is Outcome.SKIP
        assert skipped.reason is Reason.NO_CHANNEL
        assert decide(kept, visit, both, FatigueState(), clock).channel == "sms"
        assert kept.channels.fallback == ("sms",)
