"""Definition files: one strict converter, round trips, and errors that list every problem."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore import (
    Consent,
    Customer,
    DefinitionError,
    Definitions,
    Interaction,
    Invitation,
    Journey,
    Problem,
    Response,
    Survey,
    default_metrics,
    dump_definitions,
    dumps,
    load_definitions,
    loads,
    loads_definitions,
)
from cxcore.testing import strategies as cxst

EXAMPLES = Path(__file__).parent.parent / "examples" / "retail"
FORMATS = st.sampled_from(["json", "toml"])


class TestRoundTrip:
    @given(cxst.journeys(), FORMATS)
    def test_journeys(self, journey: Journey, fmt):
        """load(dump(journey)) == journey, in JSON and TOML."""
        assert loads(dumps(journey, format=fmt), Journey, format=fmt) == journey

    @given(cxst.surveys(), FORMATS)
    def test_surveys(self, survey: Survey, fmt):
        """load(dump(survey)) == survey, every question kind and display logic included."""
        assert loads(dumps(survey, format=fmt), Survey, format=fmt) == survey

    @given(cxst.responses(), FORMATS)
    def test_responses(self, response: Response, fmt):
        """load(dump(response)) == response, with aware times in odd zones."""
        assert loads(dumps(response, format=fmt), Response, format=fmt) == response

    @given(cxst.customers(), FORMATS)
    def test_customers(self, customer: Customer, fmt):
        """Customers with consent entries round-trip."""
        assert loads(dumps(customer, format=fmt), Customer, format=fmt) == customer

    @given(cxst.interactions(), FORMATS)
    def test_interactions(self, interaction: Interaction, fmt):
        """Interactions with attributes round-trip."""
        assert loads(dumps(interaction, format=fmt), Interaction, format=fmt) == interaction

    @given(cxst.invitations())
    def test_invitations(self, invitation: Invitation):
        """Invitations round-trip through JSON."""
        assert loads(dumps(invitation), Invitation) == invitation

    @given(cxst.definitions(), FORMATS)
    def test_definition_documents(self, definitions: Definitions, fmt):
        """Whole documents round-trip and pass the cross-object checks."""
        text = dump_definitions(definitions, format=fmt)
        assert loads_definitions(text, format=fmt) == definitions

    @pytest.mark.parametrize(
        ("local", "fold", "written"),
        [
            (
                (2024, 3, 10, 2, 0),
                0,
                "2024-03-10T02:00:00-05:00[America/New_York]",
            ),  # in the DST gap
            (
                (2024, 11, 3, 1, 30),
                1,
                "2024-11-03T01:30:00-05:00[America/New_York]",
            ),  # second 01:30
            ((2026, 1, 1, 0, 0), 0, "2026-01-01T00:00:00+05:45[Asia/Kathmandu]"),
        ],
    )
    def test_times_in_named_zones_read_back_equal(self, local, fold, written):
        """A named zone is written (RFC 9557), so DST gap and fold times read back equal."""
        zone = ZoneInfo(written.split("[")[1][:-1])
        at = datetime(*local).replace(tzinfo=zone, fold=fold)  # noqa: DTZ001 - the zone is set here
        customer = Customer(
            id="C-1",
            consents=[Consent("sms", "survey", granted=True, source="form", recorded_at=at)],
        )
        text = dumps(customer)
        assert written in text
        assert loads(text, Customer) == customer

    def test_an_offset_the_zone_cannot_have_is_refused(self):
        """A time whose offset does not fit its named zone is a clear error."""
        doc = json.dumps(
            {
                "id": "C-1",
                "consents": [
                    {
                        "channel": "sms",
                        "purpose": "survey",
                        "granted": True,
                        "source": "form",
                        "recorded_at": "2026-01-01T00:00:00+01:00[Asia/Kolkata]",
                    }
                ],
            }
        )
        with pytest.raises(
            DefinitionError, match="the offset is not one Asia/Kolkata has at that time"
        ):
            loads(doc, Customer)

    def test_defaults_are_left_out(self):
        """Dumped files stay short: fields at their default are omitted."""
        survey = loads_definitions(
            '[[surveys]]\nid = "s"\ntitle = { en = "T" }\n'
            '[[surveys.questions]]\nkind = "nps"\nid = "q"\ntext = { en = "Q" }\n'
        ).surveys[0]
        data = json.loads(dumps(survey))
        assert data == {
            "id": "s",
            "title": {"en": "T"},
            "questions": [{"kind": "nps", "id": "q", "text": {"en": "Q"}}],
        }


BROKEN = """
[[journeys]]
id = "j"
name = "J"
stages = [{ id = "s", name = "S", touchpoints = [{ id = "t", name = "T", owner = "store manager" }] }]

[[surveys]]
id = "s1"
title = { hi = "x" }

[[surveys.questions]]
kind = "nsp"
id = "a"

[[surveys.questions]]
kind = "ces"
id = "b"
text = { en = "x" }

[[surveys.questions]]
kind = "nps"
id = "c"
text = { en = "x" }
scale = 11
requird = true
show_if = [{ question = "b", op = "le", value = "6" }]
"""


class TestErrors:
    def test_every_problem_is_listed_with_its_path(self):
        """One DefinitionError names every faulty field, with typo suggestions."""
        with pytest.raises(DefinitionError) as exc:
            loads_definitions(BROKEN, source="broken.toml")
        assert exc.value.source == "broken.toml"
        assert {str(p) for p in exc.value.problems} == {
            (
                "journeys[0].stages[0].touchpoints[0].owner: 'store manager' is not a valid id (expected "
                "1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit)"
            ),
            (
                "surveys[0].questions[0].kind: 'nsp' is not a question kind (expected one of 'nps', 'csat', "
                "'ces', 'rating', 'scale', 'choice', 'text') (did you mean 'nps'?)"
            ),
            "surveys[0].questions[1].direction: is missing (required: one of 'higher_is_better', 'lower_is_better')",
            "surveys[0].questions[2].requird: is not a field of an NPS question (did you mean 'required'?)",
            "surveys[0].questions[2].scale: 11 is not a valid NPS scale (expected 10)",
            "surveys[0].questions[2].show_if[0].value: '6' is not a number (op 'le')",
            "surveys[0].title: has no 'en' text (the survey's default locale)",
        }
        assert str(exc.value).startswith("broken.toml: 7 problems:\n  ")

    @pytest.mark.parametrize(
        ("document", "expected"),
        [
            (
                '{"surveys": [{"id": 1}]}',
                {
                    "surveys[0].id: 1 is not text",
                    "surveys[0].title: is missing (required)",
                    "surveys[0].questions: is missing (required)",
                },
            ),
            ('{"surveys": "nope"}', {"surveys: 'nope' is not a list"}),
            ('{"surveys": [3]}', {"surveys[0]: 3 is not a table (expected a Survey)"}),
            (
                '{"journeys": [{"id": "j", "name": "J", "stages": [{"id": "s", "name": "S", "touchpoints": [{}]}]}]}',
                {
                    "journeys[0].stages[0].touchpoints[0].id: is missing (required: text)",
                    "journeys[0].stages[0].touchpoints[0].name: is missing (required: text)",
                    "journeys[0].stages[0].touchpoints[0].owner: is missing (required: text)",
                },
            ),
            (
                '{"surveys": [{"id": "s", "title": {"en": "T"}, "questions": [{"id": "q"}]}]}',
                {
                    (
                        "surveys[0].questions[0].kind: is missing (expected one of 'nps', 'csat', 'ces', 'rating', "
                        "'scale', 'choice', 'text')"
                    )
                },
            ),
            (
                '{"surveys": [{"id": "s", "title": "T", "questions": []}]}',
                {
                    'surveys[0].title: \'T\' is not a table of locale to text, such as { en = "...", hi = "..." }',
                    "surveys[0].questions: is empty (expected at least one question)",
                },
            ),
            (
                (
                    '{"metrics": [{"name": "m", "title": "M", "low": "1", "high": 5, "direction": "up", "buckets": [],'
                    ' "headline": "mean", "positive": "p"}]}'
                ),
                {
                    "metrics[0].low: '1' is not a whole number",
                    "metrics[0].direction: 'up' is not one of 'higher_is_better', 'lower_is_better'",
                    "metrics[0].positive: 'p' is not one of the buckets ()",
                },
            ),
        ],
    )
    def test_no_bare_key_or_type_errors(self, document, expected):
        """Wrong types, missing keys and odd shapes all become path-named problems."""
        with pytest.raises(DefinitionError) as exc:
            loads_definitions(document, format="json")
        assert {str(p) for p in exc.value.problems} == expected

    def test_unparsable_text(self):
        """Syntax errors say where."""
        with pytest.raises(DefinitionError, match="line 1: is not valid JSON"):
            loads_definitions("{", format="json")
        with pytest.raises(DefinitionError, match="is not valid TOML"):
            loads_definitions("[[surveys]\n", format="toml")

    @given(cxst.responses())
    def test_response_times_must_be_aware(self, response: Response):
        """A time without an offset is refused with advice."""
        data = json.loads(dumps(response))
        data["started_at"] = "2026-11-20T10:00:00"
        with pytest.raises(
            DefinitionError, match=r"started_at: '2026-11-20T10:00:00' has no time zone"
        ):
            loads(json.dumps(data), Response)

    def test_cross_checks_against_the_metric_registry(self):
        """Scale questions must feed a known metric with the same scale."""
        doc = """
[[metrics]]
name = "effort10"
title = "Effort"
low = 1
high = 10
direction = "higher_is_better"
headline = "mean"
positive = "easy"
buckets = [{ name = "easy", low = 7, high = 10 }]

[[surveys]]
id = "s"
title = { en = "T" }
questions = [
  { kind = "scale", id = "a", metric = "effort10", scale = 10, text = { en = "A" } },
  { kind = "scale", id = "b", metric = "effort10", scale = 7, text = { en = "B" } },
  { kind = "scale", id = "c", metric = "unknown", text = { en = "C" } },
]
"""
        with pytest.raises(DefinitionError) as exc:
            loads_definitions(doc)
        assert exc.value.problems == (
            Problem("surveys[0].questions[1].scale", "7 is not the top of metric 'effort10' (10)"),
            Problem(
                "surveys[0].questions[2].metric",
                "'unknown' is not a registered metric (known: ces, csat, effort10, nps, rating, rating3)",
            ),
        )

    def test_custom_metric_cannot_take_a_registered_name(self):
        """A file cannot quietly redefine NPS."""
        doc = """
[[metrics]]
name = "nps"
title = "Not NPS"
low = 1
high = 5
direction = "higher_is_better"
headline = "mean"
positive = "top"
buckets = [{ name = "top", low = 5, high = 5 }]
"""
        with pytest.raises(DefinitionError, match="'nps' is already a registered metric"):
            loads_definitions(doc, registry=default_metrics())

    def test_register_metrics_adds_a_files_own_metrics(self):
        """A file's custom metrics can be registered; registering twice is harmless."""
        doc = """
[[metrics]]
name = "value_for_money"
title = "Value for money"
low = 1
high = 5
direction = "higher_is_better"
headline = "top_box"
positive = "good"
buckets = [{ name = "good", low = 4, high = 5 }]
"""
        registry = default_metrics()
        defs = loads_definitions(doc, registry=registry)
        defs.register_metrics(registry)
        defs.register_metrics(registry)
        assert registry.get("value_for_money").score({"good": 3}, n=4, total=0) == 75.0

    def test_duplicates_across_documents(self):
        """The same survey version twice is named with both places."""
        doc = '[[surveys]]\nid = "s"\ntitle = { en = "T" }\nquestions = [{ kind = "nps", id = "q", text = { en = "Q" } }]\n'
        with pytest.raises(
            DefinitionError, match=r"surveys\[1\]: 's' v1 is already defined by surveys\[0\]"
        ):
            loads_definitions(doc + doc.replace("[[surveys]]\n", "\n[[surveys]]\n"))

    def test_format_is_checked(self):
        """Only json and toml are formats."""
        with pytest.raises(ValueError, match="'yaml' is not supported"):
            loads("{}", Survey, format="yaml")  # type: ignore[arg-type]


class TestFiles:
    def test_the_retail_example_loads(self):
        """examples/retail is valid: a journey across stores and NPS/CSAT/CES/emoji surveys in en and hi."""
        defs = load_definitions(*sorted(EXAMPLES.glob("*.toml")))
        journey = defs.journey("bazaar_retail")
        assert {tp.id for tp in journey.touchpoints()} >= {
            "billing_counter",
            "store_exit",
            "home_delivery",
            "support_call",
            "mobile_app",
        }
        kinds = {q.kind for s in defs.surveys for q in s.questions}
        assert kinds >= {"nps", "csat", "ces", "rating"}
        assert all(s.locales == {"en", "hi"} for s in defs.surveys)
        assert defs.survey("after_support").version == 2

    def test_lookups_name_what_exists(self):
        """Missing journeys and surveys are named with the ones defined."""
        defs = load_definitions(EXAMPLES / "surveys.toml")
        with pytest.raises(KeyError, match="after_billing v1"):
            defs.survey("nope")
        with pytest.raises(KeyError, match="defined: none"):
            defs.journey("nope")
        assert defs.survey("after_billing", 1).id == "after_billing"

    def test_dump_and_reload_the_example(self, tmp_path):
        """The example survives a trip through both formats on disk."""
        defs = load_definitions(*sorted(EXAMPLES.glob("*.toml")))
        for fmt in ("json", "toml"):
            path = tmp_path / f"all.{fmt}"
            path.write_text(dump_definitions(defs, format=fmt), encoding="utf-8")
            assert load_definitions(path) == defs

    def test_wrong_suffix_and_file_errors_name_the_file(self, tmp_path):
        """A .yaml file is refused by name; problems carry the file name."""
        bad = tmp_path / "defs.yaml"
        bad.write_text("", encoding="utf-8")
        with pytest.raises(DefinitionError, match=r"defs.yaml: 1 problem"):
            load_definitions(bad)
        broken = tmp_path / "broken.toml"
        broken.write_text(BROKEN, encoding="utf-8")
        with pytest.raises(DefinitionError, match=r"broken.toml: 7 problems"):
            load_definitions(broken)
