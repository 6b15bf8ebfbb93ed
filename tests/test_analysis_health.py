"""Tests for cxcore.analysis.health: the composite, its parts and weights, and the AUC for churn."""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from cxcore import CxError
from cxcore.analysis import (
    DEFAULT_HEALTH_WEIGHTS,
    HealthReport,
    HealthWeights,
    customer_health,
    health_separation,
)
from cxcore.model.case import Case
from cxcore.model.customer import Customer
from cxcore.model.interaction import Interaction
from cxcore.model.invitation import Disposition, Invitation
from cxcore.scoring import ResponseFrame

AS_OF = datetime(2026, 9, 1, tzinfo=UTC)


def invitation(i: int, customer: str) -> Invitation:
    return Invitation(
        id=f"V{i}",
        survey_id="rel",
        survey_version=1,
        channel="email",
        address=None,
        token=f"t{i}",
        created_at=AS_OF - timedelta(days=30),
        customer_id=customer,
    )


def case(i: int, customer: str, status: str) -> Case:
    return Case(
        id=f"K{i}",
        owner="support_lead",
        status=status,
        reason="low score",
        opened_at=AS_OF - timedelta(days=10),
        updated_at=AS_OF - timedelta(days=5),
        customer_id=customer,
    )


def frame_of(rows: list[tuple[str, int, datetime]]) -> ResponseFrame:
    return ResponseFrame.from_columns(
        {
            "metric": ["nps"] * len(rows),
            "score": [r[1] for r in rows],
            "customer_id": [r[0] for r in rows],
            "answered_at": [r[2] for r in rows],
        }
    )


class TestParts:
    def test_one_customer_by_hand(self):
        """Each part follows its documented formula, and the composite their weighted mean."""
        frame = frame_of(
            [
                ("C1", 5, AS_OF - timedelta(days=200)),
                ("C1", 9, AS_OF - timedelta(days=90)),
            ]
        )
        cases = [case(1, "C1", "open"), case(2, "C1", "in_progress"), case(3, "C1", "closed")]
        invitations = [(invitation(i, "C1"), Disposition.DELIVERED) for i in range(3)]
        invitations.append((invitation(3, "C1"), Disposition.COMPLETED))
        report = customer_health(frame, cases=cases, invitations=invitations, as_of=AS_OF)
        (health,) = report.customers
        assert (health.latest, health.previous, health.open_cases) == (9.0, 5.0, 2)
        parts = dict(health.parts)
        assert parts["score"] == pytest.approx(0.9)
        assert parts["trend"] == pytest.approx(0.5 + 0.4 / 2)
        assert parts["cases"] == pytest.approx(1 / 3)
        assert parts["recency"] == pytest.approx(0.5)  # 90 days: one half-life
        assert parts["response"] == pytest.approx(0.25)
        w = DEFAULT_HEALTH_WEIGHTS
        expected = (
            100
            * (w.score * 0.9 + w.trend * 0.7 + w.cases / 3 + w.recency * 0.5 + w.response * 0.25)
            / (w.score + w.trend + w.cases + w.recency + w.response)
        )
        assert health.health == pytest.approx(expected)

    def test_unknown_parts_are_left_out_not_guessed(self):
        """A customer with one answer has no trend; one never invited, no response part."""
        report = customer_health(frame_of([("C1", 10, AS_OF)]), as_of=AS_OF)
        (health,) = report.customers
        assert set(health.parts) == {"score", "cases", "recency"}
        w = DEFAULT_HEALTH_WEIGHTS
        expected = (
            100 * (w.score * 1 + w.cases * 1 + w.recency * 1) / (w.score + w.cases + w.recency)
        )
        assert health.health == pytest.approx(expected)

    def test_weights_are_the_users(self):
        """With only the score weighted, health is the latest answer on a 0-100 scale."""
        frame = frame_of([("C1", 7, AS_OF), ("C2", 2, AS_OF - timedelta(days=3))])
        weights = HealthWeights(score=1, trend=0, cases=0, recency=0, response=0)
        report = customer_health(frame, weights=weights, cases=[case(1, "C1", "open")])
        assert report.health() == {"C1": pytest.approx(70.0), "C2": pytest.approx(20.0)}

    def test_contacts_from_interactions_count_for_recency(self):
        """A later interaction makes the last contact more recent than the last answer."""
        frame = frame_of([("C1", 8, AS_OF - timedelta(days=100))])
        touch = Interaction(
            id="I1", touchpoint="app", occurred_at=AS_OF - timedelta(days=10), customer_id="C1"
        )
        report = customer_health(frame, interactions=[touch], as_of=AS_OF)
        assert report.customers[0].days_since_contact == pytest.approx(10.0)

    def test_accounts_average_their_customers(self):
        """An account's health is the mean of its customers' health."""
        frame = frame_of([("C1", 10, AS_OF), ("C2", 0, AS_OF), ("C3", 5, AS_OF)])
        customers = [
            Customer(id="C1", account_id="ACME"),
            Customer(id="C2", account_id="ACME"),
            Customer(id="C3"),
        ]
        report = customer_health(frame, customers=customers, as_of=AS_OF)
        health = report.health()
        (acme,) = report.accounts
        assert acme.id == "ACME"
        assert acme.customers == 2
        assert acme.health == pytest.approx((health["C1"] + health["C2"]) / 2)

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("score", -1, "finite number, 0 or more"),
            ("trend", math.nan, "finite number, 0 or more"),
            ("recency_half_life_days", 0, "recency_half_life_days must be above 0"),
        ],
    )
    def test_bad_weights_are_refused(self, field, value, message):
        """Weights are finite and not negative; the half-life is positive."""
        with pytest.raises(CxError, match=message):
            HealthWeights(**{field: value})

    def test_all_zero_weights_are_refused(self):
        """At least one weight must count."""
        with pytest.raises(CxError, match="at least one health weight"):
            HealthWeights(score=0, trend=0, cases=0, recency=0, response=0)

    def test_bad_disposition_is_named(self):
        """An invitation's disposition that is not one is refused, naming the invitation."""
        with pytest.raises(CxError, match=r"invitation 'V1': 'answered' is not a disposition"):
            customer_health(
                frame_of([("C1", 5, AS_OF)]), invitations=[(invitation(1, "C1"), "answered")]
            )

    def test_frame_needs_customers_and_the_metric(self):
        """The frame must tell customers apart and hold the metric."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [5]})
        with pytest.raises(CxError, match="no dimension 'customer_id'"):
            customer_health(frame)
        with pytest.raises(CxError, match="no answers to metric 'csat'"):
            customer_health(frame_of([("C1", 5, AS_OF)]), metric="csat")


def churn_world(customers: int = 1200, seed: int = 4) -> dict[str, Any]:
    """Customers with a hidden loyalty that drives their answers, cases, contacts and churn."""
    rng = random.Random(seed)
    rows: list[tuple[str, int, datetime]] = []
    cases: list[Case] = []
    invitations: list[tuple[Invitation, Disposition]] = []
    churned: dict[str, bool] = {}
    for c in range(customers):
        person = f"C{c:04d}"
        loyalty = rng.gauss(0, 1)
        for k in range(2):
            score = int(min(10, max(0, round(7 + 1.8 * loyalty + rng.gauss(0, 1.5)))))
            rows.append((person, score, AS_OF - timedelta(days=rng.randint(1, 200) + 200 * k)))
        for _ in range(max(0, round(rng.gauss(-loyalty, 1)))):
            cases.append(case(len(cases), person, "open"))
        for _ in range(3):
            done = rng.random() < 1 / (1 + math.exp(-loyalty))
            invitations.append(
                (
                    invitation(len(invitations), person),
                    Disposition.COMPLETED if done else Disposition.EXPIRED,
                )
            )
        churned[person] = rng.random() < 1 / (1 + math.exp(2.0 + 1.5 * loyalty))
    return {
        "frame": frame_of(rows),
        "cases": cases,
        "invitations": invitations,
        "churned": churned,
    }


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    return churn_world()


@pytest.fixture(scope="module")
def report(world: dict[str, Any]) -> HealthReport:
    return customer_health(
        world["frame"], cases=world["cases"], invitations=world["invitations"], as_of=AS_OF
    )


class TestSeparation:
    def test_auc_is_mann_whitney(self, report, world):
        """The AUC is Mann-Whitney's U over the product of the group sizes (scipy's, here)."""
        scipy_stats = pytest.importorskip("scipy.stats")

        result = health_separation(report, world["churned"], resamples=300)
        health = report.health()
        stayed = [health[k] for k, v in world["churned"].items() if not v]
        left = [health[k] for k, v in world["churned"].items() if v]
        u = scipy_stats.mannwhitneyu(stayed, left).statistic
        assert result.auc == pytest.approx(u / (len(stayed) * len(left)), abs=1e-12)
        assert (result.events, result.others) == (len(left), len(stayed))

    def test_health_separates_churn_with_an_interval(self, report, world):
        """On data where loyalty drives churn, health separates it well, with an honest interval."""
        result = health_separation(report, world["churned"], resamples=500, seed=2)
        assert result.auc > 0.7
        assert result.low < result.auc < result.high
        assert 0.02 < result.high - result.low < 0.2
        assert result.unmatched == 0

    def test_random_outcomes_sit_at_one_half(self, report, world):
        """Churn unrelated to anything gives an AUC whose interval holds 0.5."""
        rng = random.Random(9)
        noise = {k: rng.random() < 0.2 for k in world["churned"]}
        result = health_separation(report, noise, resamples=500)
        assert result.low < 0.5 < result.high

    def test_renewal_reads_the_other_way(self, report, world):
        """Renewal (True = renewed) of the same customers gives the same AUC."""
        renewed = {k: not v for k, v in world["churned"].items()}
        churn = health_separation(report, world["churned"], resamples=50)
        renewal = health_separation(report, renewed, event="renewal", resamples=50)
        assert renewal.auc == pytest.approx(churn.auc)

    def test_reproducible_under_a_seed(self, report, world):
        """The same seed gives the same interval."""
        a = health_separation(report, world["churned"], resamples=200, seed=7)
        b = health_separation(report, world["churned"], resamples=200, seed=7)
        assert (a.low, a.high) == (b.low, b.high)

    def test_unmatched_and_one_sided_outcomes(self, report):
        """Unknown ids are counted; outcomes all one way cannot be separated, and say so."""
        ids = list(report.health())[:10]
        with pytest.raises(CxError, match=r"10 with, 0 without \(2 unmatched\)"):
            health_separation(report, {**dict.fromkeys(ids, True), "X1": False, "X2": True})
        with pytest.raises(CxError, match="'churn' or 'renewal'"):
            health_separation(report, {}, event="upsell")  # type: ignore[arg-type]

    def test_shows_itself(self, report, world):
        """The report and the separation print as tables and show as well-formed HTML."""
        result = health_separation(report, world["churned"], resamples=50)
        assert "AUC" in str(result)
        ET.fromstring(result._repr_html_())  # noqa: S314 - our own output
        text = repr(report)
        assert text.startswith("Customer health from nps")
        assert "least healthy first" in text
        ET.fromstring(report._repr_html_())  # noqa: S314 - our own output
        df = report.to_pandas()
        assert len(df) == len(report.customers)
        assert np.isfinite(df["health"]).all()
