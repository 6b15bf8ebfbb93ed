"""Benchmark: SMS invitations out through the dispatcher, signed replies in through the collector.

Prints one JSON line per case, the median of ``--runs`` rounds; a ratio is the
median of the rounds' ratios (a case and its baseline run one after the other
in each round). The Twilio emulator (cxcore.testing.twilio) runs in a
process of its own under uvicorn on loopback, as Twilio would be elsewhere;
the collector runs in a thread of this process, so the replies case and its
baseline share the machine alike.

* ``sms_sends``: ``--sends`` invitations queued in the collector's SQLite
  store, sent by a Dispatcher in its own event loop with its own connection to
  that store (as ``cxcore dispatch`` runs beside ``cxcore serve``), through
  SmsChannel (the real twilio SDK, our transport), one pass claiming them all,
  20 sends at a time; baseline ``bare_create_async``: the same number of bare
  ``client.messages.create_async`` calls, 20 at a time, through the SDK's
  own ``AsyncTwilioHttpClient``. ``slowdown`` = baseline rate / channel rate
  (target: <= 1.3).
* ``sms_replies``: ``--replies`` signed Twilio webhooks (a "4" from as many
  numbers, each with an open invitation) posted to ``/c/sms``, 20 at a time,
  each checked, read by Intake and stored; baseline ``plain_answers``: the
  same number of ``POST /api/answers`` (an anonymous answer, API key).
  ``slowdown`` = baseline rate / replies rate (target: <= 1.5).

Usage: python benchmarks/bench_sms.py [--sends 2000] [--replies 2000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from tests.collector_support import Served, serve_collector  # noqa: E402
from twilio.http.async_http_client import AsyncTwilioHttpClient  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402
from twilio.rest import Client  # noqa: E402

from cxcore import OutboxItem, OutboxState  # noqa: E402
from cxcore.api_keys import issue_api_key  # noqa: E402
from cxcore.collector import RateLimits  # noqa: E402
from cxcore.dispatch import ChannelLimits, Dispatcher  # noqa: E402
from cxcore.stores import SQLiteStore  # noqa: E402
from cxcore.testing.twilio import ACCOUNT, TOKEN, TwilioEmulator, serve_emulator  # noqa: E402
from cxcore_channels.sms import SmsChannel, TwilioTransport  # noqa: E402

BENCH = "sms"


def emit(**fields: Any) -> None:  # noqa: ANN401 - JSON values
    print(json.dumps({"bench": BENCH, **fields}), flush=True)


class _Bare(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's own async client, pointed at the emulator: the baseline."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    async def request(self, method: str, url: str, *a: Any, **kw: Any) -> Any:  # noqa: ANN401
        return await super().request(
            method, url.replace("https://api.twilio.com", self.base), *a, **kw
        )


async def bare_sends(base: str, n: int, concurrency: int) -> float:
    client = Client(ACCOUNT, TOKEN, http_client=_Bare(base))
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await client.messages.create_async(
                to=f"+4477009{i:05d}",
                from_="+15005550006",
                body="How likely are you to recommend Bazaar? Reply with a number from 0 to 10.",
                status_callback="https://cx.example.in/c/sms/status?i=x",
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    await client.http_client.close()
    return n / elapsed


def _emulator_process(urls: Any, stop: Any) -> None:  # noqa: ANN401 - multiprocessing objects
    """Serve the emulator in a process of its own: it and the client each get a core."""
    with serve_emulator() as twilio:
        urls.put(twilio.url)
        stop.wait()


@contextlib.contextmanager
def emulator_apart() -> Iterator[TwilioEmulator]:
    """The Twilio emulator in another process; a local handle that knows its URL."""
    context = multiprocessing.get_context("spawn")
    urls = context.Queue()
    stop = context.Event()
    process = context.Process(target=_emulator_process, args=(urls, stop), daemon=True)
    process.start()
    try:
        handle = TwilioEmulator()
        handle.url = urls.get(timeout=60)
        yield handle
    finally:
        stop.set()
        process.join(10)


def phone(i: int) -> str:
    return f"+447{i:09d}"


class _Bench:
    """The emulator, a collector with the SMS channel, and the cases, round after round."""

    def __init__(
        self, twilio: TwilioEmulator, served: Served, channel: SmsChannel, concurrency: int
    ) -> None:
        self.twilio = twilio
        self.served = served
        self.channel = channel
        self.concurrency = concurrency
        self.used = 0
        key = issue_api_key("bench", ["answers"], at=served.clock.now())
        served.run(served.store.add_api_key(key.key))
        self.api_key = key.secret
        self.validator = RequestValidator(TOKEN)

    def invite(self, n: int) -> list[int]:
        """*n* new invitations to new numbers, queued for sending; their numbers' indexes."""
        served = self.served
        first, self.used = self.used, self.used + n
        items = []
        for i in range(first, first + n):
            inv = served.invite(
                channel="sms", address=phone(i), survey_id="store_exit", customer_id=None
            )
            items.append(
                OutboxItem(
                    id=inv.id,
                    invitation_id=inv.id,
                    channel="sms",
                    state=OutboxState.PENDING,
                    due_at=served.clock.now(),
                )
            )
        served.run(served.store.enqueue(items))
        return list(range(first, first + n))

    def sends(self, n: int) -> float:
        """Send *n* queued invitations as ``cxcore dispatch`` does: its own loop, store and channel.

        One pass claims them all, and sends 20 at a time.
        """

        async def go() -> float:
            channel = SmsChannel(
                account_sid=ACCOUNT,
                auth_token=TOKEN,
                from_number="+15005550006",
                base_url=self.served.url,
                inbound_url=f"{self.served.url}/c/sms",
                http_client=TwilioTransport(base_url=self.twilio.url, connections=self.concurrency),
            )
            async with SQLiteStore(self.served.path, clock=self.served.clock) as store:
                dispatcher = Dispatcher(
                    store,
                    {"sms": channel},
                    clock=self.served.clock,
                    limits={"sms": ChannelLimits(concurrency=self.concurrency)},
                    batch=n,
                )
                start = time.perf_counter()
                report = await dispatcher.run_once()
                elapsed = time.perf_counter() - start
            await channel.aclose()
            if report.count(OutboxState.SENT) != n:
                msg = f"only {report} of {n}"
                raise RuntimeError(msg)
            return n / elapsed

        return asyncio.run(go())

    async def post_all(self, make: Any, numbers: list[int]) -> float:  # noqa: ANN401
        gate = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> None:
                url, kw = make(i)
                async with gate, session.post(url, **kw) as response:
                    await response.read()
                    if response.status != 200:
                        msg = f"{url}: {response.status}"
                        raise RuntimeError(msg)

            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in numbers))
            return len(numbers) / (time.perf_counter() - start)

    def reply(self, i: int) -> tuple[str, dict[str, Any]]:
        webhook = f"{self.served.url}/c/sms"
        params = {"MessageSid": f"SM{i:032x}", "From": phone(i), "To": "+15005550006", "Body": "4"}
        signature = self.validator.compute_signature(webhook, params)
        return webhook, {"data": params, "headers": {"X-Twilio-Signature": signature}}

    def answer(self, i: int) -> tuple[str, dict[str, Any]]:
        body = {"survey": "store_exit", "answers": {"sat": 4}, "key": f"bench-{i}"}
        return f"{self.served.url}/api/answers", {
            "json": body,
            "headers": {"X-Api-Key": self.api_key},
        }


def main() -> None:
    # The baseline is the SDK's own client, which passes aiohttp a deprecated argument.
    warnings.filterwarnings("ignore", "The 'auth' parameter is deprecated", DeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {k: [] for k in ("sends", "bare", "replies", "plain")}
    with emulator_apart() as twilio, tempfile.TemporaryDirectory() as tmp:
        channel = SmsChannel(
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            from_number="+15005550006",
            base_url="http://127.0.0.1/r",
            inbound_url="http://127.0.0.1/r/c/sms",
            http_client=TwilioTransport(base_url=twilio.url, connections=args.concurrency),
        )
        # No rate limits: both cases post from one address, as a provider does.
        limits = RateLimits(per_address=None, per_key=None)
        with serve_collector(Path(tmp), channels={"sms": channel}, limits=limits) as served:
            bench = _Bench(twilio, served, channel, args.concurrency)
            for _ in range(args.runs):
                numbers = bench.invite(max(args.sends, args.replies))
                rates["sends"].append(bench.sends(len(numbers)))
                rates["bare"].append(
                    asyncio.run(bare_sends(twilio.url, args.sends, args.concurrency))
                )
                replied = numbers[: args.replies]
                rates["replies"].append(asyncio.run(bench.post_all(bench.reply, replied)))
                rates["plain"].append(asyncio.run(bench.post_all(bench.answer, replied)))
            stored = served.run(served.store.count_responses())
            served.run(channel.aclose())

    def ratio(a: str, b: str) -> float:
        return round(statistics.median(x / y for x, y in zip(rates[a], rates[b], strict=True)), 3)

    median = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    emit(case="bare_create_async", per_second=median["bare"], messages=args.sends, runs=args.runs)
    emit(
        case="sms_sends",
        per_second=median["sends"],
        messages=args.sends,
        runs=args.runs,
        baseline="bare_create_async",
        slowdown=ratio("bare", "sends"),
        target="<= 1.3",
    )
    emit(case="plain_answers", per_second=median["plain"], requests=args.replies, runs=args.runs)
    emit(
        case="sms_replies",
        per_second=median["replies"],
        requests=args.replies,
        runs=args.runs,
        responses_in_store=stored,
        baseline="plain_answers",
        slowdown=ratio("plain", "replies"),
        target="<= 1.5",
    )


if __name__ == "__main__":
    main()
