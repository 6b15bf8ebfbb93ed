"""Tests for cxcore.analysis.journey: touchpoints measured on their journey, drivers, the map."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from cxcore import CxError
from cxcore.analysis import JourneyAnalysis, journey_analysis, journey_map_svg, plot_journey_map
from cxcore.model.interaction import Interaction
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.journey import Journey, Stage, Touchpoint
from cxcore.model.response import RespondentKind, Response, ResponseStatus
from cxcore.model.survey import CsatQuestion, Survey
from cxcore.scoring import ResponseFrame, score

T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
JOURNEY = Journey(
    id="retail",
    name="Retail <& co>",
    stages=[
        Stage(
            "awareness",
            "Awareness",
            [
                Touchpoint("website", "Website", "digital"),
                Touchpoint("walk_in", "Walk-in", "store"),
            ],
        ),
        Stage(
            "purchase",
            "Purchase",
            [
                Touchpoint("billing", "Billing <counter> & queue", "store_manager"),
                Touchpoint("checkout", "Online checkout", "ecommerce"),
            ],
        ),
        Stage("delivery", "Delivery", [Touchpoint("delivery", "Home delivery", "logistics")]),
        Stage("support", "Support", [Touchpoint("call", "Support call", "support")]),
    ],
)
# How likely a customer is satisfied (CSAT 4-5) at each touchpoint: billing is the weak one.
SATISFIED = {
    "website": 0.85,
    "walk_in": 0.8,
    "billing": 0.35,
    "checkout": 0.75,
    "delivery": 0.7,
    "call": 0.8,
}
# Which stage's touchpoint each customer uses, and how many go on to the next stage.
GO_ON = {"awareness": 0.9, "purchase": 0.7, "delivery": 0.5}


def generate(customers: int = 800, seed: int = 1) -> dict[str, Any]:
    """Customers walk the journey stage by stage and rate where they were (60% answer)."""
    rng = random.Random(seed)
    interactions: list[Interaction] = []
    table: dict[str, list[Any]] = {"metric": [], "score": [], "touchpoint": [], "customer_id": []}
    invitations: list[tuple[Invitation, Disposition]] = []
    path: dict[str, list[tuple[str, datetime]]] = {}
    for c in range(customers):
        person = f"C{c:04d}"
        at = T0 + timedelta(hours=rng.randint(0, 500))
        ratings: dict[str, int] = {}
        steps: list[tuple[str, datetime]] = []
        for stage in JOURNEY.stages:
            tp = rng.choice(stage.touchpoints).id if stage.id != "support" else "call"
            steps.append((tp, at))
            interactions.append(
                Interaction(
                    id=f"I{len(interactions)}",
                    touchpoint=tp,
                    occurred_at=at,
                    customer_id=person,
                )
            )
            invitation = Invitation(
                id=f"V{len(invitations)}",
                survey_id="tp",
                survey_version=1,
                channel="sms",
                address=None,
                token=f"t{len(invitations)}",
                created_at=at,
                customer_id=person,
                context={"touchpoint": tp},
            )
            answered = rng.random() < 0.6
            invitations.append(
                (invitation, Disposition.COMPLETED if answered else Disposition.DELIVERED)
            )
            if answered:
                good = rng.random() < SATISFIED[tp]
                rating = rng.choice([4, 5]) if good else rng.choice([1, 2, 3])
                ratings[tp] = rating
                table["metric"].append("csat")
                table["score"].append(rating)
                table["touchpoint"].append(tp)
                table["customer_id"].append(person)
            at += timedelta(days=rng.randint(1, 3))
            if stage.id in GO_ON and rng.random() > GO_ON[stage.id]:
                break
        path[person] = steps
    return {
        "frame": ResponseFrame.from_columns(
            {k: np.asarray(v, dtype=object) for k, v in table.items()}
        ),
        "relationship": relationship_survey(customers // 2, seed),
        "interactions": interactions,
        "invitations": invitations,
        "path": path,
    }


def relationship_survey(customers: int, seed: int) -> ResponseFrame:
    """A relationship survey: NPS, and a CSAT rating of each touchpoint.

    The NPS follows the delivery rating closely (delivery drives loyalty
    here), billing a little, the rest not at all.
    """
    rng = random.Random(seed + 1)
    table: dict[str, list[Any]] = {"metric": [], "score": [], "touchpoint": [], "customer_id": []}
    for c in range(customers):
        person = f"R{c:04d}"
        ratings = {tp: rng.randint(1, 5) for tp in SATISFIED}
        for tp, rating in ratings.items():
            table["metric"].append("csat")
            table["score"].append(rating)
            table["touchpoint"].append(tp)
            table["customer_id"].append(person)
        raw = 2.0 * ratings["delivery"] + 0.4 * ratings["billing"] - 2.0 + rng.gauss(0, 1.0)
        table["metric"].append("nps")
        table["score"].append(int(min(10, max(0, round(raw)))))
        table["touchpoint"].append(None)
        table["customer_id"].append(person)
    return ResponseFrame.from_columns({k: np.asarray(v, dtype=object) for k, v in table.items()})


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return generate()


@pytest.fixture(scope="module")
def analysis(data: dict[str, Any]) -> JourneyAnalysis:
    return journey_analysis(
        JOURNEY,
        data["frame"],
        metric="csat",
        interactions=data["interactions"],
        invitations=data["invitations"],
        relationship="nps",
        relationship_frame=data["relationship"],
        resamples=200,
    )


class TestTouchpoints:
    def test_the_weak_touchpoint_ranks_last(self, analysis):
        """Billing, satisfying a third of its customers, is last, marked weakest and below the journey."""
        ranking = analysis.ranking()
        assert ranking[-1].touchpoint == "billing"
        assert [t.touchpoint for t in analysis.touchpoints if t.weakest] == ["billing"]
        billing = next(t for t in analysis.touchpoints if t.touchpoint == "billing")
        assert billing.below_journey
        assert billing.cell.high is not None
        assert analysis.overall.score is not None
        assert billing.cell.high < analysis.overall.score

    def test_laid_out_in_journey_order(self, analysis):
        """Touchpoints come stage by stage, in the journey's order."""
        assert [t.touchpoint for t in analysis.touchpoints] == [
            tp.id for tp in JOURNEY.touchpoints()
        ]
        assert [t.touchpoint for t in analysis.stage("purchase")] == ["billing", "checkout"]

    def test_scores_are_the_engines(self, analysis, data):
        """Each touchpoint's cell is score() of its answers."""
        table = score(data["frame"], "csat", by="touchpoint")
        for t in analysis.touchpoints:
            ref = table.get((t.touchpoint,))
            assert ref is not None
            assert (t.cell.n, t.cell.score, t.cell.low, t.cell.high) == (
                ref.n,
                ref.score,
                ref.low,
                ref.high,
            )

    def test_reach_and_drop_off_follow_the_interactions(self, analysis, data):
        """Reach counts distinct customers; drop-off, those never seen in the next stage."""
        path = data["path"]
        stage_of = {tp.id: s.id for s in JOURNEY.stages for tp in s.touchpoints}
        order = [s.id for s in JOURNEY.stages]
        for t in analysis.touchpoints:
            people = [p for p, steps in path.items() if any(tp == t.touchpoint for tp, _ in steps)]
            assert t.reach == len(people)
            assert t.interactions == len(people)  # one visit each here
            i = order.index(t.stage)
            if i + 1 == len(order):
                assert t.drop_off is None
                continue
            gone = sum(
                1 for p in people if not any(stage_of[tp] == order[i + 1] for tp, _ in path[p])
            )
            assert t.drop_off == pytest.approx(gone / len(people))
        website = next(t for t in analysis.touchpoints if t.touchpoint == "website")
        assert website.drop_off == pytest.approx(0.1, abs=0.05)

    def test_response_rate_is_aapor_rr1_of_its_invitations(self, analysis, data):
        """With invitations, the rate is the completes over all the touchpoint's invitations."""
        for t in analysis.touchpoints:
            mine = [
                d for inv, d in data["invitations"] if inv.context["touchpoint"] == t.touchpoint
            ]
            done = sum(d is Disposition.COMPLETED for d in mine)
            assert t.response_rate == pytest.approx(done / len(mine))
            assert t.response_rate_basis == "aapor-rr1"
            assert t.respondents == done  # each customer answered at most once there

    def test_without_invitations_the_rate_is_respondents_over_reach(self, data):
        """Without invitations, the rate is respondents over reach, and says so."""
        result = journey_analysis(JOURNEY, data["frame"], interactions=data["interactions"])
        for t in result.touchpoints:
            assert t.response_rate_basis == "respondents/reach"
            assert t.reach
            assert t.respondents is not None
            assert t.response_rate == pytest.approx(t.respondents / t.reach)
        assert result.drivers is None

    def test_answers_are_not_respondents(self):
        """One customer answering forty times is one respondent of ten reached, not a 100% rate.

        A frame without the customer dimension cannot tell, so its respondents
        and rate are unknown rather than its answers counted as people.
        """
        journey = Journey(
            id="j", name="J", stages=[Stage("s", "S", [Touchpoint("tp", "TP", "owner")])]
        )
        interactions = [
            Interaction(id=f"I{c}", touchpoint="tp", occurred_at=T0, customer_id=f"C{c}")
            for c in range(10)
        ]
        answers: dict[str, list[Any]] = {
            "metric": ["csat"] * 40,
            "score": [5] * 40,
            "touchpoint": ["tp"] * 40,
            "customer_id": ["C0"] * 40,
        }
        known = journey_analysis(
            journey, ResponseFrame.from_columns(answers), interactions=interactions
        ).touchpoints[0]
        assert known.respondents == 1
        assert known.response_rate == pytest.approx(0.1)
        answers["customer_id"] = [None] * 40  # anonymous answers: no more people than above
        anonymous = journey_analysis(
            journey, ResponseFrame.from_columns(answers), interactions=interactions
        ).touchpoints[0]
        assert (anonymous.respondents, anonymous.response_rate) == (None, None)
        del answers["customer_id"]
        result = journey_analysis(
            journey, ResponseFrame.from_columns(answers), interactions=interactions
        )
        unknown = result.touchpoints[0]
        assert (unknown.reach, unknown.respondents, unknown.response_rate) == (10, None, None)
        assert "response rate: unknown without invitations or a customer_id dimension" in str(
            result
        )

    def test_a_frame_from_responses_knows_its_customers(self):
        """from_responses gives the customer_id dimension, so respondents are people."""
        survey = Survey(
            id="after_billing",
            version=1,
            title={"en": "Billing"},
            questions=[CsatQuestion(id="sat", text={"en": "How satisfied?"})],
        )
        responses = [
            Response(
                id=f"R{i}",
                survey_id="after_billing",
                survey_version=1,
                respondent=RespondentKind.CUSTOMER,
                customer_id="C0" if i < 5 else "C1",
                answers={"sat": 5},
                context={"touchpoint": "billing"},
                channel="email",
                idempotency_key=f"K{i}",
                status=ResponseStatus.COMPLETE,
                started_at=T0,
                updated_at=T0,
                completed_at=T0,
            )
            for i in range(6)
        ]
        frame = ResponseFrame.from_responses(responses, [survey])
        assert set(frame.dimensions["customer_id"].values) == {"C0", "C1"}
        interactions = [
            Interaction(id=f"I{c}", touchpoint="billing", occurred_at=T0, customer_id=f"C{c}")
            for c in range(4)
        ]
        billing = next(
            t
            for t in journey_analysis(JOURNEY, frame, interactions=interactions).touchpoints
            if t.touchpoint == "billing"
        )
        assert billing.respondents == 2
        assert billing.response_rate == pytest.approx(0.5)

    def test_drop_off_is_unknown_where_the_next_stage_has_no_interactions(self, data):
        """No interaction of the next stage recorded at all: not a 100% drop-off, but unknown."""
        early = [i for i in data["interactions"] if i.touchpoint in {"website", "walk_in"}]
        result = journey_analysis(JOURNEY, data["frame"], interactions=early)
        awareness = [t for t in result.touchpoints if t.stage == "awareness"]
        assert all(t.reach and t.drop_off is None for t in awareness)

    def test_without_interactions_reach_is_unknown(self, data):
        """Without interactions there is no reach, drop-off or rate, rather than a guess."""
        result = journey_analysis(JOURNEY, data["frame"])
        assert all(t.reach is None and t.drop_off is None for t in result.touchpoints)
        assert all(t.response_rate is None for t in result.touchpoints)

    def test_low_n_touchpoints_are_not_ranked(self, data):
        """A touchpoint with fewer answers than min_n is shown but never called weakest."""
        frame = data["frame"]
        tp = frame.dimensions["touchpoint"]
        keep = np.ones(len(frame), dtype=bool)
        billing_rows = np.flatnonzero(tp.codes == tp.values.index("billing"))
        keep[billing_rows[5:]] = False
        result = journey_analysis(JOURNEY, frame.take(keep))
        billing = next(t for t in result.touchpoints if t.touchpoint == "billing")
        assert billing.cell.n == 5
        assert billing.cell.low_n
        assert not billing.weakest
        assert "billing" not in [t.touchpoint for t in result.ranking()]

    def test_unknown_touchpoints_are_refused(self, data):
        """An interaction at a touchpoint the journey lacks is an error naming it."""
        stray = Interaction(id="X1", touchpoint="teleport", occurred_at=T0, customer_id="C1")
        with pytest.raises(CxError, match="'teleport'"):
            journey_analysis(JOURNEY, data["frame"], interactions=[*data["interactions"], stray])

    def test_missing_dimension_is_named(self, data):
        """A frame without the touchpoint dimension is refused, naming what it has."""
        frame = ResponseFrame.from_columns({"metric": ["csat"], "score": [4]})
        with pytest.raises(CxError, match="no dimension 'touchpoint'"):
            journey_analysis(JOURNEY, frame)


class TestDrivers:
    def test_delivery_drives_the_relationship_nps(self, analysis):
        """Relative weights put delivery first, with a bootstrap interval clear of zero."""
        drivers = analysis.drivers
        assert drivers is not None
        assert not drivers.suppressed
        top = drivers.drivers[0]
        assert top.name == "delivery"
        assert top.low is not None
        assert top.low > 0
        assert top.share > 50
        assert [d.name for d in drivers.drivers][1] == "billing"
        assert drivers.n == 400

    def test_chosen_drivers_and_an_explained_suppression(self, data):
        """Drivers can be chosen; with too few customers the result is withheld, saying why."""
        result = journey_analysis(
            JOURNEY,
            data["frame"],
            relationship="nps",
            relationship_frame=data["relationship"].take(np.arange(len(data["relationship"])) < 70),
            driver_touchpoints=["delivery", "billing"],
            resamples=50,
        )
        assert result.drivers is not None
        assert result.drivers.suppressed
        assert "10 respondents for 2 drivers" in (result.drivers.reason or "")
        assert "not shown" in str(result)

    def test_relationship_metric_must_be_there(self, data):
        """A relationship metric without answers is refused, naming what there is."""
        with pytest.raises(CxError, match="none to metric 'nps'"):
            journey_analysis(JOURNEY, data["frame"], relationship="nps")


class TestMap:
    def test_svg_is_well_formed_and_escaped(self, analysis):
        """The SVG parses as XML, names stay text, and every touchpoint has a box."""
        svg = journey_map_svg(analysis)
        root = ET.fromstring(svg)  # noqa: S314 - our own output
        ns = {"s": "http://www.w3.org/2000/svg"}
        assert "<counter>" not in svg
        assert "Billing &lt;counter&gt; &amp; queue" in svg
        boxes = root.findall(".//s:g[@class='touchpoint']", ns)
        assert [b.get("data-touchpoint") for b in boxes] == [tp.id for tp in JOURNEY.touchpoints()]
        title = root.find("s:title", ns)
        assert title is not None
        assert title.text == "Retail <& co>: Customer Satisfaction by touchpoint"

    def test_stages_in_order_and_the_weakest_marked(self, analysis):
        """Stage columns run left to right in journey order; only billing says weakest."""
        root = ET.fromstring(analysis.to_svg())  # noqa: S314 - our own output
        ns = {"s": "http://www.w3.org/2000/svg"}
        stages = root.findall(".//s:g[@class='stage']", ns)
        assert [s.get("data-stage") for s in stages] == [s.id for s in JOURNEY.stages]
        xs = [float(str(s.find("s:rect", ns).get("x"))) for s in stages]  # type: ignore[union-attr]
        assert xs == sorted(xs)
        marked = [
            b.get("data-touchpoint")
            for b in root.findall(".//s:g[@class='touchpoint']", ns)
            if any("weakest" in (t.text or "") for t in b.findall("s:text", ns))
        ]
        assert marked == ["billing"]

    def test_colours_follow_the_scores(self, analysis):
        """The best touchpoint is greener than the weakest, which is redder."""
        root = ET.fromstring(analysis.to_svg())  # noqa: S314 - our own output
        ns = {"s": "http://www.w3.org/2000/svg"}
        fills = {
            b.get("data-touchpoint"): str(b.find("s:rect", ns).get("fill"))  # type: ignore[union-attr]
            for b in root.findall(".//s:g[@class='touchpoint']", ns)
        }
        best = analysis.ranking()[0].touchpoint

        def rgb(colour: str) -> tuple[int, ...]:
            return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))

        assert rgb(fills["billing"])[0] > rgb(fills[best])[0]  # more red
        assert rgb(fills[best])[1] > rgb(fills["billing"])[1]  # more green

    def test_matplotlib_map_draws_on_the_given_axes(self, analysis, tmp_path):
        """plot_journey_map draws a patch per stage and per touchpoint on ax, and saves."""
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415 - after choosing the backend

        fig, ax = plt.subplots()
        out = plot_journey_map(analysis, ax=ax)
        assert out is ax
        touchpoints = len(list(JOURNEY.touchpoints()))
        assert len(ax.patches) == len(JOURNEY.stages) + touchpoints
        assert sum("weakest" in t.get_text() for t in ax.texts) == 1
        fig.savefig(tmp_path / "map.png")
        fig.savefig(tmp_path / "map.svg")
        assert (tmp_path / "map.png").stat().st_size > 0
        ET.parse(tmp_path / "map.svg")  # noqa: S314 - our own output
        plt.close(fig)

    def test_text_and_html(self, analysis):
        """The analysis prints as a table and shows as escaped HTML."""
        text = str(analysis)
        assert "billing" in text
        assert "weakest" in text
        page = analysis._repr_html_()
        ET.fromstring(page)  # noqa: S314 - our own output
        assert "Retail &lt;&amp; co&gt;" in page
