"""Forty weeks of Bazaar's feedback, generated with known truths, for analysts to explore.

The demo (demo.py) shows the engine end to end over two weeks, with few
answers per store. Analysts need more: months of answers in every store, the
comments customers wrote in English and Hindi, and, to check a method, a
history whose truths are known. This module generates one, deterministic under
its seed:

- 13 stores (stores.csv), each with its own quality; customers with a home store.
- Interactions on the journey (journey.toml): billing at the counter, home
  deliveries, support calls, and anonymous answers at the store-exit kiosk.
- Answers to the surveys in surveys.toml: CSAT after billing, CES after a
  delivery or a support call, the quarterly relationship NPS, the kiosk's
  emoji rating; some support answers are recorded by agents for customers.
- **Known truths**: home delivery is the weakest touchpoint and the one that
  moves the relationship NPS most; a new billing process starts in five stores
  on a known date and lifts billing satisfaction there by a known amount
  (:class:`Initiative`); a few comments contradict their score (a 10 with an
  angry comment).

    python examples/retail/history.py --db bazaar-history.db [--customers 3000] [--seed 2026]

writes it into a SQLite store; from Python, :func:`bazaar_history` returns it
in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import attrs

from cxcore import Interaction, Response, load_definitions
from cxcore.model import Survey

__all__ = ["HERE", "History", "Initiative", "bazaar_history", "definitions"]

HERE = Path(__file__).resolve().parent
"""This folder: journey.toml, surveys.toml, stores.csv."""


@attrs.frozen
class Initiative:
    """A change made in some stores from a date, with the effect it truly had.

    Attributes:
        name: What changed.
        stores: The stores that made the change.
        start: The first day of the change.
        survey_id: The survey whose answers it affects.
        question_id: The question it affects.
        true_lift: How much it raised the latent satisfaction, in points of
            the 1-5 scale, before answers are rounded to the scale.
    """

    name: str
    stores: tuple[str, ...]
    start: date
    survey_id: str
    question_id: str
    true_lift: float


@attrs.frozen
class History:
    """What :func:`bazaar_history` generated.

    Attributes:
        stores: Store id to its row of stores.csv.
        interactions: Every interaction, oldest first.
        responses: Every response, oldest first.
        initiative: The change made in some stores, and its true effect.
        weakest_touchpoint: The touchpoint generated to be the weakest.
    """

    stores: dict[str, dict[str, str]]
    interactions: tuple[Interaction, ...]
    responses: tuple[Response, ...]
    initiative: Initiative
    weakest_touchpoint: str


def definitions() -> tuple[Survey, ...]:
    """Bazaar's surveys, from surveys.toml (the journey is checked alongside)."""
    return load_definitions(HERE / "journey.toml", HERE / "surveys.toml").surveys


# Comments customers write, by how they felt. Most are English; some Hindi.
_COMMENTS = {
    "billing": {
        "good": [
            "Billing was quick and the staff were friendly",
            "The new express counter is great, I was out in two minutes",
            "Smooth payment with UPI, no waiting",
            "बिलिंग जल्दी हो गई, कर्मचारी अच्छे थे",
        ],
        "bad": [
            "The queue at billing was far too long",
            "Card payment failed twice at the counter",
            "I was charged the wrong price and had to argue",
            "Only one counter open on a Saturday evening, terrible",
            "बिलिंग पर बहुत लंबी कतार थी",
        ],
    },
    "delivery": {
        "good": ["Delivery arrived a day early, well packed", "Courier was polite and on time"],
        "bad": [
            "Delivery was three days late and nobody told me",
            "The courier was rude and left the parcel outside",
            "Parcel arrived damaged, the box was crushed",
            "डिलीवरी बहुत देर से आई",
        ],
    },
    "support": {
        "good": ["The agent solved it in one call, thank you"],
        "bad": [
            "I was on hold for twenty minutes and then cut off",
            "Nobody called back as promised",
            "Had to explain my problem three times to three people",
        ],
    },
    "overall": {
        "good": [
            "Great range of kurtas and fair prices",
            "Love the app and the rewards",
            "Always a pleasant visit, helpful staff",
            "बहुत अच्छा अनुभव, दाम भी ठीक हैं",
        ],
        "bad": [
            "Deliveries are always late, I have stopped ordering online",
            "Prices went up and the quality went down",
            "The app keeps crashing at checkout",
            "कर्मचारी मदद नहीं करते",
        ],
    },
}
# A few customers give a high score and an angry comment, or the reverse.
_CONTRADICTIONS = {
    "good": "Terrible, the worst queue I have ever seen, awful staff",
    "bad": "Wonderful staff, lovely store, really happy",
}


def _clip(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _pick_comment(rng: random.Random, topic: str, *, good: bool, contradiction: float) -> str:
    if rng.random() < contradiction:
        return _CONTRADICTIONS["good" if good else "bad"]
    return rng.choice(_COMMENTS[topic]["good" if good else "bad"])


def _read_stores() -> dict[str, dict[str, str]]:
    with (HERE / "stores.csv").open(encoding="utf-8", newline="") as f:
        return {row["store"]: row for row in csv.DictReader(f)}


def bazaar_history(  # noqa: C901, PLR0912, PLR0915 - one generative story, told in order
    *,
    customers: int = 3000,
    weeks: int = 40,
    start: date = date(2026, 1, 5),
    seed: int = 2026,
) -> History:
    """Generate *weeks* of Bazaar's interactions and feedback, with known truths.

    Args:
        customers: How many customers have a home store.
        weeks: How many weeks, from *start*.
        start: The first day (a Monday keeps weeks aligned).
        seed: Everything generated follows from it.

    Returns:
        The history, with its interactions and responses oldest first.
    """
    rng = random.Random(seed)
    surveys = {s.id: s for s in definitions()}
    stores = _read_stores()
    store_ids = sorted(stores)
    quality = {s: rng.gauss(0.0, 0.25) for s in store_ids}
    treated = tuple(sorted(rng.sample(store_ids, 5)))
    initiative = Initiative(
        name="express billing counter",
        stores=treated,
        start=start + timedelta(weeks=weeks // 2),
        survey_id="after_billing",
        question_id="billing_sat",
        true_lift=0.45,
    )
    days = weeks * 7
    interactions: list[Interaction] = []
    responses: list[Response] = []

    def when(day: int) -> datetime:
        at = datetime.combine(start + timedelta(days=day), time(10), tzinfo=UTC)
        return at + timedelta(minutes=rng.randrange(10 * 60))

    def answer(  # noqa: PLR0917 - one response's parts
        survey_id: str,
        at: datetime,
        answers: dict[str, object],
        context: dict[str, str],
        channel: str,
        customer: str | None = None,
        interaction: str | None = None,
        agent: str | None = None,
    ) -> None:
        n = len(responses) + 1
        respondent = "agent" if agent else ("customer" if customer else "anonymous")
        done = at + timedelta(seconds=rng.randrange(20, 300))
        responses.append(
            Response(
                id=f"R-{n:06d}",
                survey_id=survey_id,
                survey_version=surveys[survey_id].version,
                answers=answers,
                status="complete",
                respondent=respondent,
                channel=channel,
                idempotency_key=f"history-{seed}-{n}",
                started_at=at,
                updated_at=done,
                completed_at=done,
                customer_id=customer,
                agent_id=agent,
                interaction_id=interaction,
                locale="hi" if rng.random() < 0.2 else "en",
                context=context,
            )
        )

    def interact(touchpoint: str, at: datetime, customer: str | None, store: str) -> str:
        interaction = Interaction(
            id=f"I-{len(interactions) + 1:07d}",
            touchpoint=touchpoint,
            occurred_at=at,
            customer_id=customer,
            journey="bazaar_retail",
            store=store,
        )
        interactions.append(interaction)
        return interaction.id

    for k in range(customers):
        customer = f"C-{k + 1:05d}"
        home = rng.choice(store_ids)
        where = {"store": home, "city": stores[home]["city"], "format": stores[home]["format"]}
        mood = rng.gauss(0.0, 0.5)  # how this customer tends to feel
        # The customer's latest experience at each touchpoint, on a latent 1-5 scale.
        felt = {"billing": 3.8 + mood, "delivery": 3.1 + mood, "support": 3.5 + mood}
        day = rng.randrange(14)
        while day < days:  # store visits: billing at the counter
            at = when(day)
            lift = initiative.true_lift if home in treated and at.date() >= initiative.start else 0
            felt["billing"] = 3.8 + quality[home] + lift + mood + rng.gauss(0, 0.8)
            iid = interact("billing_counter", at, customer, home)
            if rng.random() < 0.3:
                sat = _clip(felt["billing"], 1, 5)
                answers: dict[str, object] = {"billing_sat": sat}
                if sat <= 3 and rng.random() < 0.6:
                    answers["billing_issue"] = [rng.choice(["long_queue", "payment_failed"])]
                if rng.random() < 0.3:
                    answers["billing_comment"] = _pick_comment(
                        rng, "billing", good=sat >= 4, contradiction=0.03
                    )
                answer(
                    "after_billing",
                    at,
                    answers,
                    {**where, "touchpoint": "billing_counter"},
                    rng.choice(["sms", "email"]),
                    customer,
                    iid,
                )
            day += 7 + int(rng.expovariate(1 / 21))
        day = rng.randrange(30)
        while rng.random() < 0.75 and day < days:  # home deliveries: the weak touchpoint
            at = when(day)
            felt["delivery"] = 3.1 + mood + rng.gauss(0, 1.0)
            iid = interact("home_delivery", at, customer, home)
            if rng.random() < 0.35:
                effort = _clip(1 + (felt["delivery"] - 1) * 1.5, 1, 7)
                answers = {
                    "delivery_effort": effort,
                    "courier_mood": _clip(effort / 2.4, 1, 3),
                    "delivery_sat": _clip(felt["delivery"], 1, 5),
                }
                answer(
                    "after_delivery",
                    at,
                    answers,
                    {**where, "touchpoint": "home_delivery"},
                    "sms",
                    customer,
                    iid,
                )
            day += 14 + int(rng.expovariate(1 / 30))
        if rng.random() < 0.25:  # one support call
            day = rng.randrange(days)
            at = when(day)
            felt["support"] = 3.5 + mood + rng.gauss(0, 0.9)
            iid = interact("support_call", at, customer, home)
            if rng.random() < 0.4:
                effort = _clip(1 + (felt["support"] - 1) * 1.5, 1, 7)
                resolved = "yes" if effort >= 4 else "no"
                answers = {"support_effort": effort, "resolved": resolved}
                answers["agent_sat"] = _clip(felt["support"] + 0.3, 1, 5)
                if resolved == "no":
                    answers["support_comment"] = _pick_comment(
                        rng, "support", good=False, contradiction=0.0
                    )
                agent = f"A-{rng.randrange(1, 9):02d}" if rng.random() < 0.15 else None
                answer(
                    "after_support",
                    at,
                    answers,
                    {**where, "touchpoint": "support_call"},
                    "email",
                    customer,
                    iid,
                    agent,
                )
        for quarter in range(0, days, 91):  # the quarterly relationship NPS
            if rng.random() >= 0.3:
                continue
            at = when(quarter + rng.randrange(21))
            # Delivery moves loyalty most, then billing, then support.
            latent = (
                7.7
                + 1.3 * (felt["delivery"] - 3.1)
                + 0.7 * (felt["billing"] - 3.8)
                + 0.4 * (felt["support"] - 3.5)
                + 0.8 * mood
                + rng.gauss(0, 1.2)
            )
            ltr = _clip(latent, 0, 10)
            answers = {"ltr": ltr}
            drivers = [
                d
                for d, p in (("delivery", 0.4), ("price", 0.3), ("staff", 0.3))
                if rng.random() < p
            ]
            if drivers:
                answers["drivers"] = drivers
            if rng.random() < 0.45:
                topic = "delivery" if felt["delivery"] < 2.8 and ltr <= 6 else "overall"
                answers["why"] = _pick_comment(rng, topic, good=ltr >= 9, contradiction=0.03)
            answer(
                "relationship_nps",
                at,
                answers,
                {**where, "touchpoint": "loyalty_programme"},
                "email",
                customer,
            )
    for store in store_ids:  # the store-exit kiosk: anonymous, buyers and non-buyers alike
        for day in range(days):
            for _ in range(rng.randrange(3)):
                at = when(day)
                mood = _clip(3.6 + quality[store] + rng.gauss(0, 0.9), 1, 5)
                found = rng.choice(["yes", "yes", "partly", "no"])
                answers = {"visit_mood": mood, "found_it": found}
                place = stores[store]
                answer(
                    "store_exit",
                    at,
                    answers,
                    {
                        "store": store,
                        "city": place["city"],
                        "format": place["format"],
                        "touchpoint": "store_exit",
                        "bought": found == "yes",
                    },
                    "kiosk",
                )
    interactions.sort(key=lambda i: (i.occurred_at, i.id))
    responses.sort(key=lambda r: (r.started_at, r.id))
    return History(
        stores=stores,
        interactions=tuple(interactions),
        responses=tuple(responses),
        initiative=initiative,
        weakest_touchpoint="home_delivery",
    )


async def _write(path: Path, history: History, batch: int = 2000) -> None:
    from cxcore.stores import SQLiteStore  # noqa: PLC0415 - only the command line writes

    async with SQLiteStore(path) as store:
        for survey in definitions():
            await store.put_survey(survey)
        for i in range(0, len(history.responses), batch):
            await store.append(history.responses[i : i + batch])


def main(argv: Sequence[str] | None = None) -> None:
    """Generate the history and write it into a SQLite store."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="the SQLite file to write")
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--weeks", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    history = bazaar_history(customers=args.customers, weeks=args.weeks, seed=args.seed)
    asyncio.run(_write(args.db, history))
    i = history.initiative
    print(
        f"{len(history.responses):,} responses and {len(history.interactions):,} interactions"
        f" written to {args.db}; {i.name!r} in {', '.join(i.stores)} from {i.start}"
        f" (true lift {i.true_lift} points); weakest touchpoint: {history.weakest_touchpoint}"
    )


if __name__ == "__main__":
    main()
