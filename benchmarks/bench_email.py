"""Benchmark: render and send survey emails to a loopback aiosmtpd in another process.

Prints one JSON line per case:

* ``email_channel``: EmailChannel.render + send, pool of 10 sessions (target: >= 1,000/s);
* ``naive_aiosmtplib_send``: pre-built bytes, one ``aiosmtplib.send()`` (one new
  connection) per message, awaited one after the other; ``channel_speedup`` is
  the channel's rate over this one (target: >= 3);
* ``naive_aiosmtplib_send_concurrent``: the same, 10 at a time (for comparison:
  on loopback the sink, not the handshakes, then limits both);
* ``bare_smtp_sessions``: pre-built bytes over 10 bare ``aiosmtplib.SMTP``
  sessions; ``channel_slowdown`` is this rate over the channel's (target: <= 1.25).

Usage: python benchmarks/bench_email.py [--messages 2000] [--pool 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from datetime import timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP

from cxcore import Invitation, Survey
from cxcore.testing import SAMPLE_TIME, sample_surveys
from cxcore_channels.email import EmailChannel

SENDER = "surveys@bazaar.example.in"


class _Count:
    async def handle_DATA(self, *_: object) -> str:  # noqa: N802 - aiosmtpd's hook name
        return "250 2.0.0 OK"


def _sink(ready: Queue[int], stop: EventType) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(_Count(), hostname="sink.test"), "127.0.0.1", 0
        )
        ready.put(server.sockets[0].getsockname()[1])
        await asyncio.to_thread(stop.wait)
        server.close()

    asyncio.run(main())


def _invitations(count: int) -> list[tuple[Invitation, Any]]:
    # The emoji rating: one question, text + AMP + HTML, about 8 KB (en) to 12 KB (hi).
    survey = next(s for s in sample_surveys() if s.id == "sample_rating")
    return [
        (
            Invitation(
                id=f"bench-{i:05d}",
                survey_id=survey.id,
                survey_version=survey.version,
                channel="email",
                address=f"customer{i}@example.in",
                token=f"tok.{i:05d}",
                unsubscribe_token=f"tok.{i:05d}.u",
                amp_token=f"tok.{i:05d}.amp",
                created_at=SAMPLE_TIME,
                expires_at=SAMPLE_TIME + timedelta(days=14),
                name=f"Customer {i}",
                locale="hi" if i % 2 else "en",
            ),
            survey,
        )
        for i in range(count)
    ]


async def _channel_case(port: int, items: list[Any], pool: int) -> float:
    channel = EmailChannel(
        base_url="https://cx.example.in/r",
        sender=SENDER,
        host="127.0.0.1",
        port=port,
        tls="none",
        pool_size=pool,
        max_messages_per_connection=10_000,
    )
    start = time.perf_counter()

    async def one(invitation: Invitation, survey: Survey) -> None:
        await channel.send(channel.render(invitation, survey))

    await asyncio.gather(*(one(inv, survey) for inv, survey in items))
    elapsed = time.perf_counter() - start
    await channel.aclose()
    return elapsed


async def _naive_case(port: int, prebuilt: list[tuple[str, bytes]], pool: int) -> float:
    """One ``aiosmtplib.send()`` (a new session) per message, *pool* at a time."""
    slots = asyncio.Semaphore(pool)

    async def one(to: str, data: bytes) -> None:
        async with slots:
            await aiosmtplib.send(
                data,
                sender=SENDER,
                recipients=[to],
                hostname="127.0.0.1",
                port=port,
                start_tls=False,
                local_hostname="bench.test",
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(to, data) for to, data in prebuilt))
    return time.perf_counter() - start


async def _bare_case(port: int, prebuilt: list[tuple[str, bytes]], pool: int) -> float:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in prebuilt:
        queue.put_nowait(item)
    sessions = [
        aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, local_hostname="bench.test"
        )
        for _ in range(pool)
    ]
    start = time.perf_counter()

    async def worker(smtp: aiosmtplib.SMTP) -> None:
        await smtp.connect()
        while not queue.empty():
            to, data = queue.get_nowait()
            await smtp.sendmail(SENDER, [to], data)
        await smtp.quit()

    await asyncio.gather(*(worker(s) for s in sessions))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--pool", type=int, default=10)
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    sink = ctx.Process(target=_sink, args=(ready, stop), daemon=True)
    sink.start()
    try:
        port = ready.get(timeout=30)
        items = _invitations(args.messages)
        builder = EmailChannel(base_url="https://cx.example.in/r", sender=SENDER, tls="none")
        prebuilt = [
            (inv.address or "", builder.message_bytes(builder.render(inv, survey)))
            for inv, survey in items
        ]
        mean_bytes = round(sum(len(d) for _, d in prebuilt) / len(prebuilt))
        asyncio.run(_channel_case(port, items[:200], args.pool))  # warm up both sides

        channel_s = asyncio.run(_channel_case(port, items, args.pool))
        naive_s = asyncio.run(_naive_case(port, prebuilt, 1))
        naive_concurrent_s = asyncio.run(_naive_case(port, prebuilt, args.pool))
        bare_s = asyncio.run(_bare_case(port, prebuilt, args.pool))
    finally:
        stop.set()
        sink.join(10)

    n = args.messages
    channel_rate = n / channel_s
    common = {"messages": n, "connections": args.pool, "mean_bytes": mean_bytes}
    print(
        json.dumps(
            {
                "case": "email_channel",
                **common,
                "seconds": round(channel_s, 3),
                "per_second": round(channel_rate, 1),
                "target_per_second": 1000,
            }
        )
    )
    print(
        json.dumps(
            {
                "case": "naive_aiosmtplib_send",
                **common,
                "seconds": round(naive_s, 3),
                "per_second": round(n / naive_s, 1),
                "concurrency": 1,
                "channel_speedup": round(naive_s / channel_s, 2),
                "target_speedup": 3.0,
            }
        )
    )
    print(
        json.dumps(
            {
                "case": "naive_aiosmtplib_send_concurrent",
                **common,
                "seconds": round(naive_concurrent_s, 3),
                "per_second": round(n / naive_concurrent_s, 1),
                "concurrency": args.pool,
                "channel_speedup": round(naive_concurrent_s / channel_s, 2),
            }
        )
    )
    print(
        json.dumps(
            {
                "case": "bare_smtp_sessions",
                **common,
                "seconds": round(bare_s, 3),
                "per_second": round(n / bare_s, 1),
                "channel_slowdown": round(channel_s / bare_s, 3),
                "target_slowdown": 1.25,
            }
        )
    )


if __name__ == "__main__":
    main()
