"""Benchmark: SMS invitations out through the dispatcher, signed replies in through the collector.

Prints one JSON line per case. The Twilio emulator (tests/twilio_emulator.py)
and the collector run in threads of this process, under uvicorn on loopback,
so a case and its baseline share the machine (and the GIL) alike.

* ``sms_sends``: ``--sends`` invitations queued in a SQLite store, sent by the
  Dispatcher through SmsChannel (the real twilio SDK, our transport), 20 at a
  time; baseline ``bare_create_async``: the same number of bare
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
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from tests.collector_support import serve_collector  # noqa: E402
from tests.twilio_emulator import ACCOUNT, TOKEN, serve_emulator  # noqa: E402
from twilio.http.async_http_client import AsyncTwilioHttpClient  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402
from twilio.rest import Client  # noqa: E402

from cxcore import OutboxItem, OutboxState  # noqa: E402
from cxcore.api_keys import issue_api_key  # noqa: E402
from cxcore.collector import RateLimits  # noqa: E402
from cxcore.dispatch import ChannelLimits, Dispatcher  # noqa: E402
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


def phone(i: int) -> str:
    return f"+4477009{i:05d}"


def main() -> None:  # noqa: PLR0915 - one flat script of cases
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    with serve_emulator() as twilio, tempfile.TemporaryDirectory() as tmp:
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
            channel.inbound_url = f"{served.url}/c/sms"
            twilio.webhook_routes.clear()
            # -- sends
            invitations = []
            for i in range(args.sends):
                inv = served.invite(
                    channel="sms", address=phone(i), survey_id="store_exit", customer_id=None
                )
                invitations.append(inv)
            served.run(
                served.store.enqueue(
                    OutboxItem(
                        id=inv.id,
                        invitation_id=inv.id,
                        channel="sms",
                        state=OutboxState.PENDING,
                        due_at=served.clock.now(),
                    )
                    for inv in invitations
                )
            )
            dispatcher = Dispatcher(
                served.store,
                {"sms": channel},
                clock=served.clock,
                limits={"sms": ChannelLimits(concurrency=args.concurrency)},
                batch=500,
            )

            async def send_all() -> int:
                sent = 0
                while True:
                    report = await dispatcher.run_once()
                    if not len(report):
                        return sent
                    sent += report.count(OutboxState.SENT)

            start = time.perf_counter()
            sent = served.run(send_all())
            channel_rate = sent / (time.perf_counter() - start)
            bare_rate = asyncio.run(bare_sends(twilio.url, args.sends, args.concurrency))
            emit(case="bare_create_async", per_second=round(bare_rate, 1), messages=args.sends)
            emit(
                case="sms_sends",
                per_second=round(channel_rate, 1),
                messages=sent,
                baseline="bare_create_async",
                slowdown=round(bare_rate / channel_rate, 3),
                target="<= 1.3",
            )
            # -- replies
            webhook = f"{served.url}/c/sms"
            validator = RequestValidator(TOKEN)
            key = issue_api_key("bench", ["answers"], at=served.clock.now())
            served.run(served.store.add_api_key(key.key))

            async def post_all(make: Any, n: int) -> float:  # noqa: ANN401
                gate = asyncio.Semaphore(args.concurrency)
                connector = aiohttp.TCPConnector(limit=args.concurrency)
                async with aiohttp.ClientSession(connector=connector) as session:

                    async def one(i: int) -> None:
                        url, kw = make(i)
                        async with gate, session.post(url, **kw) as response:
                            await response.read()
                            if response.status != 200:
                                msg = f"{url}: {response.status}"
                                raise RuntimeError(msg)

                    start = time.perf_counter()
                    await asyncio.gather(*(one(i) for i in range(n)))
                    return n / (time.perf_counter() - start)

            def reply(i: int) -> tuple[str, dict[str, Any]]:
                params = {
                    "MessageSid": f"SM{i:032x}",
                    "From": phone(i),
                    "To": "+15005550006",
                    "Body": "4",
                }
                signature = validator.compute_signature(webhook, params)
                return webhook, {"data": params, "headers": {"X-Twilio-Signature": signature}}

            def answer(i: int) -> tuple[str, dict[str, Any]]:
                body = {"survey": "store_exit", "answers": {"sat": 4}, "key": f"bench-{i}"}
                return f"{served.url}/api/answers", {
                    "json": body,
                    "headers": {"X-Api-Key": key.secret},
                }

            n = min(args.replies, args.sends)
            replies_rate = asyncio.run(post_all(reply, n))
            stored = served.run(served.store.count_responses())
            plain_rate = asyncio.run(post_all(answer, n))
            emit(case="plain_answers", per_second=round(plain_rate, 1), requests=n)
            emit(
                case="sms_replies",
                per_second=round(replies_rate, 1),
                requests=n,
                stored=stored,
                baseline="plain_answers",
                slowdown=round(plain_rate / replies_rate, 3),
                target="<= 1.5",
            )
            served.run(channel.aclose())


if __name__ == "__main__":
    main()
