"""Two weeks at Bazaar, end to end: visits, rules, outbox, channels, answers, scores.

Everything runs on this machine with real parts and no network: the journey and
surveys from this folder, the rules in rules/bazaar.toml, a SQLite store, the
dispatcher, and fake SMS and email channels that deliver into memory. Customers
answer through the channel's own one-click links, read back by the channel's
parse_inbound, exactly as a collector would.

    python examples/retail/demo.py [--customers 3000] [--days 14] [--db bazaar.db]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from cxcore import (
    AddressKind,
    AnswersReceived,
    Capabilities,
    Customer,
    InboundMode,
    InboundRequest,
    Interaction,
    ManualClock,
    OutboundMessage,
    Submission,
    load_definitions,
)
from cxcore.dispatch import Dispatcher, Outbox
from cxcore.distribution import (
    FatigueState,
    Outcome,
    TokenPurpose,
    TokenService,
    decide,
    explain,
    load_rules,
)
from cxcore.stores import SQLiteStore
from cxcore.testing import FakeChannel

HERE = Path(__file__).parent
START = datetime(2026, 11, 16, 3, 30, tzinfo=UTC)  # Monday, 09:00 in India
TOUCHPOINTS = {"billing_counter": 0.7, "home_delivery": 0.2, "support_call": 0.1}


class Sms(FakeChannel):
    """A fake SMS channel: sends to phone numbers, records deliveries in memory."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats={"text/plain"}, address=AddressKind.PHONE, two_way=True, inbound=InboundMode.FORM
    )
    channel_name: ClassVar[str] = "sms"


def read_stores() -> list[tuple[str, str, float]]:
    """Store id, city, and how good the store really is (what the demo's customers feel)."""
    with (HERE / "stores.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(7)
    return [(r["store"], r["city"], rng.uniform(-1.5, 1.5)) for r in rows]


def make_customers(n: int, rng: random.Random) -> list[Customer]:
    """Customers in India, some reachable by SMS, a third reading Hindi."""
    customers = []
    for i in range(n):
        sms = rng.random() < 0.6
        customers.append(
            Customer(
                id=f"C-{i:04d}",
                email=f"customer{i}@example.in",
                phone=f"+9198{i:08d}" if sms else None,
                locale="hi" if i % 3 == 0 else "en",
                timezone="Asia/Kolkata",
                country="IN",
            )
        )
    return customers


def answer_for(message: OutboundMessage, quality: float, rng: random.Random) -> InboundRequest:
    """The request a customer's click makes: one score, from how good the store is."""
    links = [
        line.split(": ", 1) for line in message.parts["text/plain"].splitlines() if ": http" in line
    ]
    scored = [(label.strip(), url) for label, url in links if label.strip().lstrip("-").isdigit()]
    levels = sorted({int(label) for label, _ in scored})
    question = scored[0][1].rsplit("&q.", 1)[1].split("=", 1)[0]
    low, high = levels[0], levels[-1]
    centre = low + (high - low) * (0.72 + 0.08 * quality)
    value = max(low, min(high, round(rng.gauss(centre, (high - low) * 0.18))))
    url = next(url for label, url in scored if int(label) == value and f"&q.{question}=" in url)
    return InboundRequest(method="GET", url=url)


async def collect(
    store: SQLiteStore, tokens: TokenService, event: AnswersReceived, at: datetime
) -> None:
    """What a collector does with an answer: verify the token, find the invitation, store it."""
    if event.token is None:
        return  # a reply without a token: this demo's channels always send one
    invitation = await store.invitation(tokens.verify(event.token, TokenPurpose.SURVEY))
    await store.submit(
        Submission(
            idempotency_key=f"{invitation.id}:{','.join(sorted(event.answers))}",
            survey_id=invitation.survey_id,
            survey_version=invitation.survey_version,
            answers=event.answers,
            complete=event.complete,
            channel=invitation.channel,
            respondent="customer",
            customer_id=invitation.customer_id,
            invitation_id=invitation.id,
            locale=invitation.locale,
            received_at=at,
            context=invitation.context,
        )
    )


class Week:
    """The simulation's moving parts and what it saw."""

    def __init__(self, store: SQLiteStore, n_customers: int) -> None:
        self.store = store
        self.defs = load_definitions(HERE / "journey.toml", HERE / "surveys.toml")
        self.rules = load_rules(HERE / "rules" / "bazaar.toml", definitions=self.defs)
        self.rng = random.Random(2026)
        self.clock = ManualClock(START)
        self.tokens = TokenService(["bazaar-demo-signing-key-not-a-secret!"], clock=self.clock)
        self.stores = read_stores()
        self.quality = {s: q for s, _, q in self.stores}
        self.customers = make_customers(n_customers, self.rng)
        self.state = FatigueState()
        self.channels = (FakeChannel(name="email"), Sms())
        self.outbox = Outbox(store, self.tokens, clock=self.clock)
        self.dispatcher = Dispatcher(
            store, {c.name: c for c in self.channels}, clock=self.clock, worker_id="demo"
        )
        self.skipped: Counter[str] = Counter()
        self.why_not: str | None = None
        self.seen: set[str] = set()  # invitations whose recipient decided whether to answer
        self.store_of: dict[str, str] = {}  # the store each invitation asks about
        self.count = 0

    async def visit(self) -> None:
        """One visit, delivery or call: the rules decide, the outbox keeps the invitation."""
        rng = self.rng
        self.count += 1
        customer = rng.choice(self.customers)
        touchpoint = rng.choices(list(TOUCHPOINTS), weights=list(TOUCHPOINTS.values()))[0]
        store_id = rng.choice(self.stores)[0]
        visit = Interaction(
            id=f"I-{self.count:05d}",
            touchpoint=touchpoint,
            customer_id=customer.id,
            occurred_at=self.clock.now(),
            store=store_id,
            agent=f"A-{rng.randint(1, 40):02d}",
            channel="store" if touchpoint == "billing_counter" else "phone",
        )
        decision = decide(self.rules, visit, customer, self.state, self.clock)
        if decision.outcome is Outcome.INVITE:
            done = await self.outbox.schedule(
                decision, customer=customer, interaction=visit, state=self.state
            )
            self.store_of[done.invitation.id] = store_id
            return
        self.skipped[decision.reason.value if decision.reason else "?"] += 1
        if self.why_not is None and decision.reason == "recontact_window":
            self.why_not = str(explain(self.rules, visit, customer, self.state, self.clock))

    async def answers(self) -> None:
        """Some people answer what reached them, through the channel's one-click links."""
        for channel in self.channels:
            for delivery in channel.deliveries:
                invitation_id = delivery.message.invitation_id
                if invitation_id in self.seen:
                    continue
                self.seen.add(invitation_id)
                if self.rng.random() > 0.3:  # most people never answer
                    continue
                quality = self.quality[self.store_of[invitation_id]]
                request = answer_for(delivery.message, quality, self.rng)
                for event in channel.parse_inbound(request):
                    if isinstance(event, AnswersReceived):
                        await collect(self.store, self.tokens, event, self.clock.now())

    async def run(self, days: int) -> None:
        """Shop hours: visits, sends and answers every hour; nothing goes out at night."""
        for survey in self.defs.surveys:
            await self.store.put_survey(survey)
        for _day in range(days):
            for _hour in range(12):
                for _ in range(self.rng.randint(20, 40)):
                    await self.visit()
                self.clock.advance(hours=1)
                await self.dispatcher.run_once()
                await self.answers()
            self.clock.advance(hours=12)  # quiet hours
            await self.dispatcher.run_once()

    async def report(self) -> None:
        """What was sent, what came back, and the scores by store with their intervals."""
        sent = Counter(d.message.channel for ch in self.channels for d in ch.deliveries)
        total = sum(sent.values())
        responses = await self.store.count_responses()
        stores, skipped = self.stores, self.skipped
        print(
            f"== Two weeks at Bazaar: {self.count} interactions at {len(stores)} stores, "
            f"{len(self.customers)} customers\n"
        )
        print(
            f"Invitations sent: {total} ({', '.join(f'{k}: {v}' for k, v in sorted(sent.items()))})"
        )
        print(
            f"Not asked: {sum(skipped.values())} "
            f"({', '.join(f'{k}: {v}' for k, v in skipped.most_common())})"
        )
        rate = 100 * responses / max(1, total)
        print(f"Responses stored: {responses} (response rate {rate:.0f}%)\n")
        names = {s: f"{s} {city}" for s, city, _ in stores}
        for survey_id, metric, label in (
            ("after_billing", "csat", "CSAT after billing, % satisfied (4-5)"),
            ("after_delivery", "ces", "CES after delivery, % agree it was easy (5-7)"),
            ("after_support", "ces", "CES after support calls"),
        ):
            cells = await self.store.score(metric, survey_id=survey_id, by=("store",), min_n=10)
            print(f"-- {label}, by store, 95% intervals (* = fewer than 10 answers)")
            for cell in sorted(cells, key=lambda c: -(c.score or 0)):
                flag = "*" if cell.low_n else " "
                shown = "  -  " if cell.score is None else f"{cell.score:5.1f}"
                bounds = "" if cell.low is None else f"[{cell.low:5.1f}, {cell.high:5.1f}]"
                name = names.get(str(cell.key[0]), str(cell.key[0]))
                print(f"   {name:<28} n={cell.n:<4}{flag} {shown} {bounds}")
            print()
        if self.why_not is not None:
            print("-- Why was this visit not surveyed?  explain(), at the time of the visit:")
            print(self.why_not)


async def week(db: Path, n_customers: int, days: int) -> None:
    """Simulate *days* at Bazaar in the store at *db*, then report."""
    async with SQLiteStore(db) as store:
        simulation = Week(store, n_customers)
        await simulation.run(days)
        await simulation.report()


def main() -> None:
    """Run the simulation, in a temporary store unless --db names one."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--db", type=Path, help="keep the store in this file (default: temporary)")
    args = parser.parse_args()
    if args.db is not None:
        asyncio.run(week(args.db, args.customers, args.days))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(week(Path(tmp) / "bazaar.db", args.customers, args.days))


if __name__ == "__main__":
    main()
