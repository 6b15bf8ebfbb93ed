"""Two weeks at Bazaar, end to end: visits, rules, outbox, channels, answers over HTTP, scores.

Everything runs on this machine with no network beyond loopback: the journey
and surveys from this folder, the rules in rules/bazaar.toml, a SQLite store,
the dispatcher, and the collector (cxcore's ASGI app) served by uvicorn on a
loopback port. Emails go out through cxcore's email channel to a real SMTP
server on loopback (aiosmtpd), which keeps what it receives. Text messages go
out through cxcore's SMS channel, the real twilio SDK doing real HTTP, to a
Twilio-shaped emulator on another loopback port (cxcore.testing.twilio); it
posts signed delivery receipts back to the collector, as Twilio would.

Customers answer what reached them. By email, they click a one-click score: a
real HTTP request to the collector, which takes it in through Intake. A few
unsubscribe as their mail provider would, with the RFC 8058 one-click POST to
the email's List-Unsubscribe address. Most SMS customers have Indian numbers
(+91): India's DLT rules apply, so Bazaar's DLT registration (entity id,
sender header, a template per survey and language) is configured, those texts
come from the header and carry a link to the survey page, which customers
open and answer. Customers with a number abroad get "reply with a number":
they answer by SMS ("4"), which the emulator posts to the collector's SMS
route as Twilio posts an inbound message, signed; a few reply STOP. A feed
consumer reads everything that was taken in, from a position the store keeps.

    python examples/retail/demo.py [--customers 3000] [--days 14] [--db bazaar.db]

It needs the server, email and sms extras, httpx and aiosmtpd:
pip install "cxcore[server,email,sms]" httpx aiosmtpd
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import email
import email.policy
import random
import re
import socket
import tempfile
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from cxcore import Customer, Interaction, ManualClock, ScoredQuestion, load_definitions
from cxcore.collector import Collector, RateLimits
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
from cxcore.feed import FeedConsumer
from cxcore.ports.feed import FeedEvent, FeedKind
from cxcore.ports.store import OutboxState
from cxcore.stores import SQLiteStore
from cxcore.testing.twilio import ACCOUNT, TOKEN, Message, TwilioEmulator, serve_emulator
from cxcore_channels.email import EmailChannel
from cxcore_channels.sms import DltRegistration, SmsChannel

HERE = Path(__file__).parent
START = datetime(2026, 11, 16, 3, 30, tzinfo=UTC)  # Monday, 09:00 in India
TOUCHPOINTS = {"billing_counter": 0.7, "home_delivery": 0.2, "support_call": 0.1}

SMS_SENDER = "+14155550100"  # Bazaar's Twilio number, for numbers abroad


def bazaar_dlt(public_url: str) -> DltRegistration:
    """Bazaar's DLT registration: its entity id, its sender header, a template per text.

    An SMS to a +91 number goes out only as an instance of one of these
    templates, from the header. It is the link invitation (India gets the
    link, not "reply with a number"): the survey's title, the link, the stop
    hint. The link is the invitation's short link (the channel's
    ``short_links``): the collector's address is registered text, and the
    12-character code fills one slot (a slot holds at most 30).
    """
    link = f"{public_url}/l/" + "{#var#}"
    stop = {"en": "Reply STOP to opt out.", "hi": "बंद करने के लिए STOP भेजें।"}
    titles = {
        ("1207170000000001001", "en"): "Your visit to Bazaar",
        ("1207170000000001002", "hi"): "बाज़ार में आपकी खरीदारी",
        ("1207170000000002001", "en"): "Your Bazaar delivery",
        ("1207170000000002002", "hi"): "आपकी बाज़ार डिलीवरी",
        ("1207170000000003001", "en"): "Your call with Bazaar support",
        ("1207170000000003002", "hi"): "बाज़ार सहायता के साथ आपकी कॉल",
    }
    return DltRegistration(
        entity_id="1201159876543210987",
        header="BZAARR",
        templates={
            template_id: f"{title}: {link} {stop[locale]}"
            for (template_id, locale), title in titles.items()
        },
    )


def read_stores() -> list[tuple[str, str, float]]:
    """Store id, city, and how good the store really is (what the demo's customers feel)."""
    with (HERE / "stores.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(7)
    return [(r["store"], r["city"], rng.uniform(-1.5, 1.5)) for r in rows]


def phone_number(i: int, rng: random.Random) -> str | None:
    """Customer *i*'s mobile: most have an Indian one, some one from abroad, many none."""
    if rng.random() >= 0.6:
        return None
    if rng.random() < 0.15:  # visitors and NRIs, with the number they have
        return f"+97150{i:07d}" if i % 2 else f"+447700{i:06d}"
    return f"+9198{i:08d}"


def make_customers(n: int, rng: random.Random) -> list[Customer]:
    """Customers in India, some reachable by SMS, a third reading Hindi."""
    return [
        Customer(
            id=f"C-{i:04d}",
            email=f"customer{i}@example.in",
            phone=phone_number(i, rng),
            locale="hi" if i % 3 == 0 else "en",
            timezone="Asia/Kolkata",
            country="IN",
        )
        for i in range(n)
    ]


# A one-click score in a message's text: the link, its question and its value.
SCORE_LINK = re.compile(
    r"(https?://\S*?(?:/s/|[?&]token=)([\w.-]+)\S*?[?&]q\.(\w+)=(-?\d+))(?=\s|$)", re.MULTILINE
)


# The survey link in a text message; a survey page's one-answer options, and what it shows.
SURVEY_LINK = re.compile(r"https?://\S+/(?:s|l)/[\w.-]+")
PAGE_OPTION = re.compile(r'<input type="radio" [^>]*name="q\.(\w+)" value="([^"]*)"')
PAGE_SHOWN = re.compile(r'name="shown" value="([^"]*)"')


def score(low: int, high: int, quality: float, rng: random.Random) -> int:
    """A score from *low* to *high*, as good as the store (*quality*: about -1.5 to 1.5)."""
    centre = low + (high - low) * (0.72 + 0.08 * quality)
    return max(low, min(high, round(rng.gauss(centre, (high - low) * 0.18))))


def answer_for(text: str, quality: float, rng: random.Random) -> str:
    """The link a customer clicks: a score of the message's first question, as good as the store."""
    links = SCORE_LINK.findall(text)
    question = links[0][2]
    scored: dict[int, str] = {int(value): url for url, _, q, value in links if q == question}
    return scored[score(min(scored), max(scored), quality, rng)]


def token_of(text: str) -> str:
    """The survey token of a message's score links (all of them carry the same)."""
    found = SCORE_LINK.search(text)
    assert found is not None  # noqa: S101 - every message here has a score link
    return found.group(2)


class Mailbox:
    """What the SMTP server on loopback received: aiosmtpd's handler, on its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[email.message.EmailMessage] = []
        self.received = 0

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook
        self,
        server: SMTP,  # noqa: ARG002 - aiosmtpd's signature
        session: Session,  # noqa: ARG002
        envelope: Envelope,
    ) -> str:
        """Keep the message, parsed as a mail client would."""
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)  # noqa: S101 - the policy's class
        with self._lock:
            self._messages.append(message)
            self.received += 1
        return "250 2.0.0 OK: queued"

    def take(self) -> list[email.message.EmailMessage]:
        """The messages received since the last call."""
        with self._lock:
            taken, self._messages = self._messages, []
        return taken


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox, port: int) -> Iterator[None]:
    """Run an SMTP server on a loopback port that hands every message to *mailbox*."""
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def served(collector: Collector, port: int) -> AsyncIterator[None]:
    """Serve *collector* with uvicorn on a loopback port, in this event loop."""
    config = uvicorn.Config(
        collector, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event to await for it
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


class FeedTally:
    """A feed consumer: counts what the store took in, by kind, as another process would."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.last = 0

    async def __call__(self, events: Sequence[FeedEvent]) -> None:
        """Count a batch of events, in order."""
        for event in events:
            if event.seq > self.last:  # idempotent by seq: a repeat after a crash is skipped
                self.kinds[event.kind.value] += 1
                self.last = event.seq


class Week:
    """The simulation's moving parts and what it saw."""

    def __init__(self, store: SQLiteStore, n_customers: int, twilio: TwilioEmulator) -> None:
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
        self.port = free_port()
        self.public = f"http://127.0.0.1:{self.port}"
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        # Emails through a real SMTP server on loopback (plain SMTP: no TLS on loopback;
        # no AMP part, which needs an https collector). Their links go to the collector.
        self.email = EmailChannel(
            base_url=self.public,
            sender="surveys@bazaar.example.in",
            sender_name="Bazaar",
            host="127.0.0.1",
            port=self.smtp_port,
            tls="none",
            amp=False,
            clock=self.clock,
        )
        # Text messages through the real SMS channel (the twilio SDK) to the emulated
        # Twilio; its webhooks (receipts, replies) come to the collector's /c/sms.
        self.twilio = twilio
        self.sms = SmsChannel(
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            from_number=SMS_SENDER,
            base_url=self.public,
            inbound_url=f"{self.public}/c/sms",
            api_base_url=twilio.url,
            dlt=bazaar_dlt(self.public),
            short_links=True,
        )
        self.collector = Collector(
            store=store,
            tokens=self.tokens,
            public_url=self.public,
            channels={"email": self.email, "sms": self.sms},
            clock=self.clock,
            limits=RateLimits(per_address=None),  # every customer here clicks from 127.0.0.1
        )
        self.http = httpx.AsyncClient(timeout=30)
        self.clicks: Counter[int] = Counter()
        self.unsubscribed = 0
        self.feed = FeedTally()
        self.consumer = FeedConsumer(store, "demo-report", self.feed)
        self.outbox = Outbox(store, self.tokens, clock=self.clock)
        self.dispatcher = Dispatcher(
            store, {"email": self.email, "sms": self.sms}, clock=self.clock, worker_id="demo"
        )
        self.skipped: Counter[str] = Counter()
        self.why_not: str | None = None
        self.sms_seen = 0  # the emulator's messages looked at so far
        self.receipts: Counter[int] = Counter()  # delivery receipts posted, by HTTP status
        self.replies: Counter[int] = Counter()  # SMS answers posted to /c/sms, by HTTP status
        self.pages: Counter[int] = Counter()  # survey pages answered from an SMS link
        self.short_links: Counter[int] = Counter()  # how the collector answered the links
        self.stops: Counter[int] = Counter()  # STOP replies posted to /c/sms
        self.store_of: dict[str, str] = {}  # the store each invitation asks about
        self.survey_of: dict[str, str] = {}  # and its survey
        self.count = 0
        self.days = 0

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
            self.survey_of[done.invitation.id] = done.invitation.survey_id
            return
        self.skipped[decision.reason.value if decision.reason else "?"] += 1
        if self.why_not is None and decision.reason == "recontact_window":
            self.why_not = str(explain(self.rules, visit, customer, self.state, self.clock))

    async def answers(self) -> None:
        """Some people answer what reached them: over HTTP to the collector, or by SMS."""
        await self.emails()
        await self.texts()

    async def emails(self) -> None:
        """Some people click a score in an email: an HTTP request to the collector."""
        texts: list[tuple[str, str | None]] = []  # each message's text, and where to unsubscribe
        for message in self.mailbox.take():
            body = message.get_body(("plain",))
            assert isinstance(body, email.message.EmailMessage)  # noqa: S101 - every mail has one
            unsubscribe = str(message.get("List-Unsubscribe", "")).strip("<>") or None
            texts.append((body.get_content(), unsubscribe))
        for text, unsubscribe in texts:
            if unsubscribe is not None and self.rng.random() < 0.005:  # a few: no more of these
                await self.unsubscribe(unsubscribe)
                continue
            if self.rng.random() > 0.3:  # most people never answer
                continue
            # Which store asked: the invitation the links' token names, as the collector reads it.
            invitation_id = self.tokens.verify(token_of(text), TokenPurpose.SURVEY)
            quality = self.quality[self.store_of[invitation_id]]
            reply = await self.http.get(answer_for(text, quality, self.rng))
            self.clicks[reply.status_code] += 1

    async def texts(self) -> None:
        """The texts Twilio took since last time: receipts, then what their readers do.

        The emulator posts each one's signed delivery receipt to the collector.
        A text to India carries the survey link: some open the page and answer.
        A text abroad asks for a reply: some reply with a number, a few STOP.
        """
        messages = self.twilio.messages
        new, self.sms_seen = messages[self.sms_seen :], len(messages)
        # Not what the collector's TwiML answered, nor the replies themselves: the sends.
        sent = [m for m in new if m.direction == "outbound-api"]
        # Twilio posts receipts as handsets report, many at once.
        self.receipts.update(await asyncio.gather(*(self.twilio.deliver(m.sid) for m in sent)))
        for message in sent:
            query = dict(parse_qsl(urlsplit(message.status_callback or "").query))
            invitation_id = query["i"]
            quality = self.quality[self.store_of[invitation_id]]
            link = SURVEY_LINK.search(message.body)
            chance = self.rng.random()
            if link is not None:
                if chance < 0.3:
                    await self.open_survey(link.group(0), quality)
            elif chance < 0.01:  # no more of these
                await self.reply(message, "STOP", self.stops)
            elif chance < 0.31:
                question = self.defs.survey(self.survey_of[invitation_id]).questions[0]
                assert isinstance(question, ScoredQuestion)  # noqa: S101 - Bazaar's all are
                value = score(*question.bounds, quality, self.rng)
                await self.reply(message, str(value), self.replies)

    async def reply(self, message: Message, text: str, tally: Counter[int]) -> None:
        """The recipient of *message* replies *text*: Twilio posts it to /c/sms, signed."""
        _, statuses = await self.twilio.inbound(
            f"{self.public}/c/sms", message.to, text, to=SMS_SENDER
        )
        tally.update(statuses)

    async def open_survey(self, link: str, quality: float) -> None:
        """A customer opens the survey link of a text, picks a score and sends the form.

        The link is the short one (``/l/<code>``): the collector sends the
        browser on to the survey page, where the form is posted.
        """
        page = await self.http.get(link, follow_redirects=True)
        self.short_links[page.history[0].status_code if page.history else 0] += 1
        shown = PAGE_SHOWN.search(page.text)
        if shown is None:  # answered already, or closed: nothing to send
            self.pages[page.status_code] += 1
            return
        options: dict[str, list[str]] = {}
        for question, value in PAGE_OPTION.findall(page.text):
            options.setdefault(question, []).append(value)
        form = {"shown": shown.group(1)}
        for question, values in options.items():  # every one-answer question shown
            if all(v.lstrip("-").isdigit() for v in values):
                levels = [int(v) for v in values]
                form[f"q.{question}"] = str(score(min(levels), max(levels), quality, self.rng))
            else:
                form[f"q.{question}"] = self.rng.choice(values)
        reply = await self.http.post(str(page.url), data=form)
        self.pages[reply.status_code] += 1

    async def unsubscribe(self, url: str) -> None:
        """The one-click unsubscribe a mail provider sends for its user (RFC 8058)."""
        reply = await self.http.post(url, content="List-Unsubscribe=One-Click")
        self.unsubscribed += reply.status_code == 200

    async def run(self, days: int) -> None:
        """Shop hours: visits, sends and answers every hour; nothing goes out at night."""
        self.days = days
        for survey in self.defs.surveys:
            await self.store.put_survey(survey)
        async with contextlib.AsyncExitStack() as running:
            running.enter_context(smtp_server(self.mailbox, self.smtp_port))
            await running.enter_async_context(served(self.collector, self.port))
            running.push_async_callback(self.email.aclose)
            running.push_async_callback(self.sms.aclose)
            for _day in range(days):
                for _hour in range(12):
                    for _ in range(self.rng.randint(20, 40)):
                        await self.visit()
                    self.clock.advance(hours=1)
                    await self.dispatcher.run_once()
                    await self.answers()
                    await self.consumer.run_once()
                self.clock.advance(hours=12)  # quiet hours
                await self.dispatcher.run_once()
            await self.answers()  # what the last evening sent is read too
            while await self.consumer.run_once():
                pass
        await self.http.aclose()

    async def report(self) -> None:
        """What was sent, what came back, and the scores by store with their intervals."""
        texts = [m for m in self.twilio.messages if m.direction == "outbound-api"]
        india = sum(m.from_ == self.sms.dlt.header for m in texts) if self.sms.dlt else 0
        sent = {
            "email (over SMTP)": self.mailbox.received,
            "sms (over HTTP to the Twilio emulator)": len(texts),
        }
        total = sum(sent.values())
        responses = await self.store.count_responses()
        stores, skipped = self.stores, self.skipped
        print(
            f"== {self.days} days at Bazaar: {self.count} interactions at {len(stores)} stores, "
            f"{len(self.customers)} customers\n"
        )
        print(
            f"Invitations sent: {total} ({', '.join(f'{k}: {v}' for k, v in sorted(sent.items()))})"
        )
        header = self.sms.dlt.header if self.sms.dlt else "-"
        print(f"  sms to +91 numbers, from DLT header {header}, with the survey link: {india}")
        print(f"  sms to numbers abroad, answered by reply: {len(texts) - india}")
        unsent = [i for i in await self.store.outbox() if i.state is not OutboxState.SENT]
        if unsent:  # due after the last hour simulated, or not sent: the outbox says why
            states = Counter(f"{i.channel} {i.state.value}" for i in unsent)
            errors = Counter(i.last_error for i in unsent if i.last_error)
            listed = ", ".join(f"{k}: {v}" for k, v in sorted(states.items()))
            print(f"Not sent (yet): {len(unsent)} ({listed})")
            for error, n in errors.most_common(3):
                print(f"  {n} x {error}")
        print(
            f"Not asked: {sum(skipped.values())} "
            f"({', '.join(f'{k}: {v}' for k, v in skipped.most_common())})"
        )
        rate = 100 * responses / max(1, total)
        print(f"Responses stored: {responses} (response rate {rate:.0f}%)")
        print(f"One-click answers from emails, over HTTP to the collector: {codes(self.clicks)}")
        print(f"Short links in texts opened (/l/<code>): {codes(self.short_links)}")
        print(f"Survey pages answered from an SMS link, over HTTP: {codes(self.pages)}")
        answered = sum(m.direction == "outbound-reply" for m in self.twilio.messages)
        print(f"SMS answers by reply, Twilio's signed webhook to /c/sms: {codes(self.replies)}")
        print(f"  texts sent back in TwiML (next question, thanks, STOP confirmed): {answered}")
        print(f"SMS delivery receipts, Twilio's signed status callbacks: {codes(self.receipts)}")
        print(
            f"Unsubscribed with one click (RFC 8058): {self.unsubscribed}; "
            f"by replying STOP to a text: {self.stops[200]}"
        )
        kinds = self.feed.kinds
        print(
            f"Feed, read by consumer {self.consumer.name!r} from its saved position: "
            f"{kinds[FeedKind.ANSWER.value]} answers, {kinds[FeedKind.OPT_OUT.value]} opt-outs\n"
        )
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


def codes(statuses: Counter[int]) -> str:
    """HTTP statuses and how many got each: "609 x HTTP 200"."""
    return ", ".join(f"{n} x HTTP {code}" for code, n in sorted(statuses.items())) or "none"


async def week(db: Path, n_customers: int, days: int) -> None:
    """Simulate *days* at Bazaar in the store at *db*, with Twilio emulated on loopback; report."""
    with serve_emulator() as twilio:
        async with SQLiteStore(db) as store:
            simulation = Week(store, n_customers, twilio)
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
