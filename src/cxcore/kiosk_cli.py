"""``cxcore kiosk add|list|revoke``: the deployment's kiosks, their device keys and heartbeats.

.. code-block:: console

    $ cxcore kiosk add blr-01-exit --store BLR-01 --touchpoint store_exit --survey visit
    $ cxcore kiosk list
    $ cxcore kiosk revoke blr-01-exit
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from cxcore.deployment.cli import add_config_argument, open_store_or_refuse, read_config
from cxcore.errors import CxError, Problem, ValidationError
from cxcore.kiosks import ALIVE_WITHIN, device_json, issue_kiosk
from cxcore.ports.clock import SystemClock
from cxcore.ports.store import Kiosk, Store, UnknownSurveyError

if TYPE_CHECKING:
    from cxcore.deployment import Deployment

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``kiosk`` command.

    .. versionadded:: 0.1.0
    """
    kiosk = subparsers.add_parser(
        "kiosk",
        help="add, list and revoke store kiosks (each with its own device key)",
        description="A kiosk is one touch screen in one store. Each gets a device key, shown "
        "once; `list` shows which kiosks are alive, their queues and their last answers.",
    )
    commands = kiosk.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help="add a kiosk and print its device key once")
    add.add_argument("id", help="the device's id, e.g. 'blr-01-exit'")
    add.add_argument("--store", required=True, help="the store it stands in, e.g. 'BLR-01'")
    add.add_argument(
        "--touchpoint",
        required=True,
        help="where it stands, recorded on every answer: 'store_exit' hears from non-buyers, "
        "'billing_counter' from buyers",
    )
    add.add_argument("--survey", required=True, help="the survey it asks")
    add.add_argument("--name", help="what staff call it (default: its id)")
    add.add_argument(
        "--locale",
        action="append",
        help="a language it offers, the first shown first (repeat; default: en and hi)",
    )
    add.add_argument(
        "--no-agent-mode",
        action="store_true",
        help="do not let staff record what customers told them on this kiosk",
    )
    listing = commands.add_parser(
        "list", help="list kiosks: alive, queue length, refused answers, last answer"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per kiosk")
    revoke = commands.add_parser("revoke", help="revoke a kiosk and its device key")
    revoke.add_argument("id", help="the kiosk's id, as `cxcore kiosk list` shows")
    for parser in (add, listing, revoke):
        add_config_argument(parser)
    add.set_defaults(handler=lambda args: _run(args, "add"))
    listing.set_defaults(handler=lambda args: _run(args, "list"))
    revoke.set_defaults(handler=lambda args: _run(args, "revoke"))


def _run(args: argparse.Namespace, what: str) -> int:
    deployment = read_config(args.config, sys.stderr)
    if isinstance(deployment, int):
        return deployment
    return asyncio.run(run_kiosk(deployment, args, what, sys.stdout))


async def _check_placement(
    deployment: Deployment, store: Store, survey_id: str, touchpoint: str
) -> list[Problem]:
    """What is wrong with a kiosk's survey and touchpoint, each named with its option.

    The survey must be stored or in the deployment's definition files. The
    touchpoint is recorded on every answer and scores are split by it, so a
    misspelt one would quietly start a segment of its own: where the definition
    files have journeys, it must be a touchpoint of one of them.
    """
    from cxcore.definitions import load_definitions  # noqa: PLC0415 - only `kiosk add`

    files = [deployment.path(name) for name in deployment.collector.definitions]
    definitions = load_definitions(*files) if files else None
    problems = []
    try:
        await store.survey(survey_id)
    except UnknownSurveyError:
        known = {s.id for s in definitions.surveys} if definitions else set()
        if survey_id not in known:
            problems.append(
                Problem(
                    "--survey",
                    f"{survey_id!r} is neither stored nor in the deployment's definition files",
                )
            )
    journeys = definitions.journeys if definitions else ()
    places = sorted({t.id for j in journeys for stage in j.stages for t in stage.touchpoints})
    if places and touchpoint not in places:
        problems.append(
            Problem(
                "--touchpoint",
                f"{touchpoint!r} is not a touchpoint of the deployment's journeys"
                f" (expected one of: {', '.join(places)})",
            )
        )
    return problems


def _when(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M}"


def kiosk_line(kiosk: Kiosk, now: datetime) -> str:
    """One kiosk as ``cxcore kiosk list`` prints it."""
    state = (
        f"revoked {_when(kiosk.revoked_at)}"
        if kiosk.revoked_at
        else ("alive" if kiosk.alive(now, ALIVE_WITHIN) else "silent")
    )
    queue = "?" if kiosk.queue_length is None else str(kiosk.queue_length)
    return (
        f"{kiosk.id}  {kiosk.store}/{kiosk.touchpoint}  survey {kiosk.survey_id}  {state}  "
        f"seen {_when(kiosk.seen_at)}  queue {queue}  refused {kiosk.dropped}  "
        f"last answer {_when(kiosk.last_answer_at)}"
    )


async def run_kiosk(
    deployment: Deployment, args: argparse.Namespace, what: str, out: TextIO
) -> int:
    """Run ``cxcore kiosk <what>`` against the deployment's store, printing to *out*."""
    clock = SystemClock()
    store = await open_store_or_refuse(deployment, clock)
    try:
        now = clock.now()
        if what == "add":
            # Every problem at once: the placement's, then the kiosk record's own.
            problems = await _check_placement(deployment, store, args.survey, args.touchpoint)
            try:
                issued = issue_kiosk(
                    args.id,
                    store=args.store,
                    touchpoint=args.touchpoint,
                    survey_id=args.survey,
                    name=args.name,
                    locales=args.locale or ("en", "hi"),
                    agent_mode=not args.no_agent_mode,
                    at=now,
                )
            except ValidationError as exc:
                problems.extend(exc.problems)
            if problems:
                raise ValidationError(f"Kiosk {args.id!r}", problems)
            await store.add_kiosk(issued.kiosk, issued.key)
            out.write(
                f"{issued.secret}\n"
                f"kiosk {issued.kiosk.id} ({issued.kiosk.store}, {issued.kiosk.touchpoint}; "
                f"survey {issued.kiosk.survey_id}; key {issued.key.id}). Enter the key on the "
                "device, or open /kiosk/#key=<key> there. It is shown this once.\n"
            )
        elif what == "list":
            kiosks = await store.kiosks()
            if not kiosks and not args.json:
                out.write(
                    "no kiosks (add one with `cxcore kiosk add ID --store ... --survey ...`)\n"
                )
            for kiosk in kiosks:
                if args.json:
                    out.write(json.dumps(device_json(kiosk, now), ensure_ascii=False) + "\n")
                else:
                    out.write(kiosk_line(kiosk, now) + "\n")
        else:
            if await store.kiosk(args.id) is None:
                msg = f"no kiosk {args.id!r} (see `cxcore kiosk list`)"
                raise CxError(msg)
            kiosk = await store.revoke_kiosk(args.id, at=now)
            out.write(f"kiosk {kiosk.id} and its key {kiosk.key_id} are revoked\n")
    finally:
        await store.aclose()
    return 0
