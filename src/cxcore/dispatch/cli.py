"""The ``cxcore send`` command: a relationship survey to a list of customers.

.. code-block:: console

    $ cxcore send --survey nps_relationship --audience customers.csv --definitions surveys.toml

Each row is checked on its own (a bad row is reported, naming its row, column
and value, and the rest carry on); the rules decide for each customer (caps,
quiet hours, channel choice); the invitations go through the outbox and the
dispatcher; a summary says what was sent, suppressed, deferred, skipped and
failed, and why.

The store, the token keys and the channel instances come from the deployment
file (``--config PATH``, else ``$CXCORE_CONFIG``, else ``./cxcore.toml`` when
there is one) and the environment variables it names. With no deployment file,
``--store PATH`` (a SQLite file) and ``$CXCORE_TOKEN_KEYS`` are used, with the
installed channels that need no options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import logging
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, Self, TextIO

import attrs

from cxcore.cli import UsageError
from cxcore.definitions import load_definitions
from cxcore.deployment import CONFIG_VARIABLE, Deployment, DeploymentError, find_deployment
from cxcore.deployment.cli import add_config_argument
from cxcore.deployment.environment import redact
from cxcore.deployment.problems import shown
from cxcore.deployment.reading import load_deployment
from cxcore.dispatch.audience import AudienceError, AudienceRow, read_audience
from cxcore.dispatch.dispatcher import Dispatcher, DispatchOutcome
from cxcore.dispatch.outbox import Outbox, Scheduled
from cxcore.distribution.channels import ChannelPolicy
from cxcore.distribution.decide import Decision, decide, record, skip_refused
from cxcore.distribution.fatigue import FatigueState
from cxcore.distribution.rules import RuleSet, load_rules
from cxcore.distribution.tokens import TokenService
from cxcore.distribution.triggers import TriggerRule
from cxcore.errors import ChannelNotFoundError, CxError, Problem
from cxcore.model.customer import AddressKind
from cxcore.model.interaction import Interaction
from cxcore.ports.channel import Channel
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.registry import ChannelRegistry, channel_registry
from cxcore.ports.store import (
    InviteRefusedError,
    OutboxState,
    Store,
    StoreError,
    UnknownSurveyError,
)

__all__ = ["DEFAULT_STORE", "KEYS_VARIABLE", "register", "run"]

KEYS_VARIABLE = "CXCORE_TOKEN_KEYS"
"""The environment variable holding the token keys: newest first, separated by commas."""

DEFAULT_STORE = Path("cxcore.db")
"""The SQLite store of ``cxcore send`` when there is no deployment file and no ``--store``."""

_WINDOW = 256
"""How many invitations `cxcore send` stores at once (the store commits them together)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``send`` subcommand; it runs :func:`run`.

    .. versionadded:: 0.1.0
    """
    parser = subparsers.add_parser(
        "send",
        help="send a relationship survey to a list of customers (CSV)",
        description=(
            "Send a survey to every customer of a CSV file (columns: id, timezone, and email, "
            "phone or app_user_id; optionally locale, country, account_id, name, survey). "
            "Rows are checked one by one; the rules decide caps, quiet hours and channels; "
            "invitations go through the outbox. The store, token keys and channel instances "
            f"come from the deployment file (--config, else ${CONFIG_VARIABLE}, else "
            "./cxcore.toml) and the environment variables it names; with no deployment file, "
            f"from --store, ${KEYS_VARIABLE} and the installed channels that need no options."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--survey", required=True, help="the survey to send (its id)")
    parser.add_argument("--audience", required=True, type=Path, help="the customers, a .csv file")
    parser.add_argument(
        "--definitions",
        nargs="+",
        default=[],
        metavar="FILE",
        help="survey definition files (.toml or .json); surveys already in the store are known too",
    )
    parser.add_argument(
        "--rules", type=Path, help="a rule file for caps, quiet hours and channel policy"
    )
    parser.add_argument(
        "--store",
        type=Path,
        help=f"the SQLite store, when there is no deployment file (default: {DEFAULT_STORE}); "
        "a deployment file names its own store",
    )
    parser.add_argument(
        "--channel",
        help="send on this channel (instance) only (default: the best one for each customer)",
    )
    parser.add_argument(
        "--campaign",
        help="names this send; running the same campaign again sends nothing twice "
        "(default: today's date)",
    )
    parser.add_argument(
        "--expires-days",
        type=_days,
        default=14,
        help="answers are accepted this long (default 14)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check and decide, but write nothing and connect to nothing: no store is created, "
        "nothing is stored or sent",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.set_defaults(handler=run)


def _days(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        msg = f"{text!r} is not a whole number of days of 1 or more"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def run(args: argparse.Namespace) -> int:
    """Run ``cxcore send``; return 0, or 1 if any row or send failed.

    Args:
        args: The parsed command line.

    Returns:
        The exit status: 0, or 1 if any row or send failed.

    Raises:
        UsageError: For an option or ``$CXCORE_TOKEN_KEYS`` it cannot use, a
            deployment file it names that does not exist, ``--store`` beside a
            deployment file, a channel that cannot be created without a
            deployment file, or a store it cannot open (exit status 2).
        OSError: If a file cannot be opened (exit status 2).
        DeploymentError: Listing every problem of the deployment file and the
            environment variables it names (exit status 1).
        CxError: If a file has problems, or the audience lacks a column (exit status 1).

    .. versionadded:: 0.1.0
    """
    return asyncio.run(_send(args, sys.stdout, sys.stderr, SystemClock(), channel_registry()))


@attrs.define
class _Tally:
    """What became of each row, and why."""

    sent: int = 0
    suppressed: Counter[str] = attrs.field(factory=Counter)
    deferred: Counter[str] = attrs.field(factory=Counter)
    skipped: Counter[str] = attrs.field(factory=Counter)
    failures: list[tuple[int, str]] = attrs.field(factory=list)
    unknown: Counter[str] = attrs.field(factory=Counter)
    cost: dict[str, Decimal] = attrs.field(factory=dict)
    """The estimated cost of the sends, per currency, where their channels said."""

    def fail(self, row: int, message: str) -> None:
        self.failures.append((row, message))

    @property
    def failed(self) -> list[str]:
        """The failures, each naming its row, in the order of the rows."""
        return [message for _, message in sorted(self.failures, key=lambda f: f[0])]

    def outcome(self, row: int, outcome: DispatchOutcome) -> None:
        detail = outcome.detail or outcome.state.value
        match outcome.state:
            case OutboxState.SENT:
                self.sent += 1
                if outcome.cost is not None:
                    currency = outcome.cost.currency
                    self.cost[currency] = self.cost.get(currency, Decimal(0)) + outcome.cost.amount
            case OutboxState.SUPPRESSED:
                self.suppressed[detail] += 1
            case OutboxState.PENDING:
                when = outcome.retry_at.isoformat() if outcome.retry_at else "later"
                self.deferred[f"retry at {when}: {detail}"] += 1
            case OutboxState.UNKNOWN:
                self.unknown[detail] += 1
            case _:
                self.fail(row, f"row {row}: {detail}")

    def print(self, out: TextIO, *, dry_run: bool) -> None:
        def section(label: str, count: int, reasons: Counter[str] | list[str]) -> None:
            out.write(f"  {label:<11}{count}\n")
            if isinstance(reasons, Counter):
                out.writelines(
                    f"      {n} x {reason}\n"
                    for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
                )
            else:
                out.writelines(f"      {reason}\n" for reason in reasons)

        section("would send" if dry_run else "sent", self.sent, [])
        if self.cost:
            costs = ", ".join(f"{amount} {c}" for c, amount in sorted(self.cost.items()))
            out.write(f"      estimated cost: {costs}\n")
        section("suppressed", sum(self.suppressed.values()), self.suppressed)
        section("deferred", sum(self.deferred.values()), self.deferred)
        section("skipped", sum(self.skipped.values()), self.skipped)
        section("failed", len(self.failed), self.failed)
        if self.unknown:
            section("unknown", sum(self.unknown.values()), self.unknown)
            out.write(
                "  unknown sends may have reached the provider: they are never re-sent "
                "until reconciled (Dispatcher.reconcile, mark_sent or requeue)\n"
            )


class _Progress:
    """A progress bar on the terminal (rich, if installed), or nothing."""

    def __init__(self, total: int, *, enabled: bool, err: TextIO) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._cm: AbstractContextManager[Any] = nullcontext()
        if not enabled or not err.isatty():
            return
        try:
            from rich.console import Console  # noqa: PLC0415 - optional; only on a terminal
            from rich.progress import Progress  # noqa: PLC0415
        except ImportError:  # pragma: no cover - rich is optional
            return
        self._bar = Progress(console=Console(file=err), transient=True)
        self._task = self._bar.add_task("sending", total=total)
        self._cm = self._bar

    def __enter__(self) -> Self:
        self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None and n:
            self._bar.advance(self._task, n)


def _tokens(clock: Clock) -> TokenService:
    """The token service of the keys in ``$CXCORE_TOKEN_KEYS``."""
    raw = os.environ.get(KEYS_VARIABLE, "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    expected = "one or more secret keys of at least 32 bytes, newest first, separated by commas"
    if not keys:
        msg = f"${KEYS_VARIABLE} is not set (expected {expected})"
        raise UsageError(msg)
    try:
        return TokenService(keys, clock=clock)
    except ValueError as exc:  # "keys[0]: is 3 bytes long (expected at least 32)"
        msg = f"${KEYS_VARIABLE}: {exc}"
        raise UsageError(msg) from None


def _channels(
    registry: ChannelRegistry, wanted: str | None
) -> tuple[list[str], dict[str, AddressKind]]:
    names = [wanted] if wanted else registry.names()
    addresses: dict[str, AddressKind] = {}
    for name in names:
        try:
            kind = registry.capabilities(name).address
        except ChannelNotFoundError as exc:
            raise UsageError(f"--channel: {exc}") from None
        if kind is not AddressKind.NONE:
            addresses[name] = kind
    if wanted and wanted not in addresses:
        msg = f"--channel: {wanted!r} reaches no address (it is for anonymous visitors)"
        raise UsageError(msg)
    if not addresses:
        msg = "no channel is installed that reaches an address (see cxcore channels)"
        raise UsageError(msg)
    return list(addresses), addresses


@attrs.frozen
class _Means:
    """What ``cxcore send`` sends with: from a deployment file, or from options.

    Attributes:
        addresses: The channels to choose from (those that reach an address),
            with the kind of address each reaches.
        tokens: Signs the invitations' tokens; ``None`` on a dry run.
        store: Builds the store, not yet opened; ``None`` on a dry run with no
            store to read (none there yet, or one it would have to connect to).
        unopened: What to say if the store cannot be opened: where it is set,
            and which it is (``--store: cannot open 'cx.db'``).
        channels: Creates the channels (without connecting them), one by one,
            each with its name.
        batch: The most sends a dispatch pass claims.
        secrets: Values never to show (a PostgreSQL DSN and its password).
    """

    addresses: Mapping[str, AddressKind]
    tokens: TokenService | None
    store: Callable[[], Store] | None
    unopened: str
    channels: Callable[[], Iterator[tuple[str, Channel]]]
    batch: int = 50
    secrets: tuple[str, ...] = ()


def _deployment_file(config: str | None) -> Deployment | None:
    """The deployment file ``--config``, ``$CXCORE_CONFIG`` or ``./cxcore.toml`` is; else ``None``.

    A file named by ``--config`` or ``$CXCORE_CONFIG`` must exist; ``./cxcore.toml``
    is read only if it is there.

    Args:
        config: The ``--config`` argument, if given.

    Returns:
        The deployment the file describes, or ``None`` when there is no file to read.

    Raises:
        UsageError: If the file named does not exist, or cannot be opened.
        DeploymentError: If the file has problems.
    """
    path = find_deployment(config)
    named = "--config" if config else f"${CONFIG_VARIABLE}" if os.getenv(CONFIG_VARIABLE) else ""
    if not path.exists():
        if not named:
            return None
        msg = f"{named}: {str(path)!r}: no such deployment file"
        raise UsageError(msg)
    try:
        path.open("rb").close()
    except OSError as exc:
        msg = f"{named or path}: {str(path)!r}: cannot open: {exc.strerror or exc}"
        raise UsageError(msg) from None
    return load_deployment(path)


@contextlib.contextmanager
def _quiet_plugins() -> Iterator[None]:
    """The registry's own warnings off: a plugin that fails to load is a problem listed once."""
    quiet = logging.getLogger("cxcore.channels")
    previous, quiet.disabled = quiet.disabled, True
    try:
        yield
    finally:
        quiet.disabled = previous


async def _from_deployment(
    deployment: Deployment, args: argparse.Namespace, clock: Clock, registry: ChannelRegistry
) -> _Means:
    """The store, keys and channels of *deployment*, checked as ``cxcore config check`` does.

    Args:
        deployment: The deployment file's content.
        args: The command line: ``--store``, ``--channel`` and ``--dry-run`` matter here.
        clock: Tells the time, to the store and the token service.
        registry: Where the channels' plugins are found.

    Raises:
        DeploymentError: Listing every problem of the file's environment,
            store settings and channel instances; or if no instance reaches an
            address.
        UsageError: If ``--store`` is given too, or ``--channel`` is not an
            instance that reaches an address.
    """
    source = shown(deployment.source)
    if args.store is not None:
        msg = (
            f"--store: the deployment file {source} names the store ([store]); "
            "drop --store, or send without a deployment file"
        )
        raise UsageError(msg)
    with _quiet_plugins():
        problems = await deployment.acheck(registry)
    if problems:
        raise DeploymentError(source, problems)
    kinds = {
        name: registry.capabilities(settings.plugin).address
        for name, settings in deployment.channels.items()
    }
    addresses = {name: kind for name, kind in kinds.items() if kind is not AddressKind.NONE}
    wanted = args.channel
    if wanted and wanted not in kinds:
        known = ", ".join(sorted(kinds)) or "none"
        msg = f"--channel: {wanted!r} is not a channel instance of {source} (it has: {known})"
        raise UsageError(msg)
    if wanted and wanted not in addresses:
        msg = f"--channel: {wanted!r} reaches no address (it is for anonymous visitors)"
        raise UsageError(msg)
    if not addresses:
        what = "no channel instance" if not kinds else "no channel instance that reaches an address"
        problem = Problem("channels", f"names {what}: there is nothing to send on")
        raise DeploymentError(source, [problem])
    store = deployment.store
    secrets: tuple[str, ...] = ()
    if store.sqlite is not None:
        unopened = f"{source}: store.sqlite: cannot open {str(store.sqlite)!r}"
        there = store.sqlite.exists()
    else:
        unopened = (
            f"{source}: store.postgres_env: cannot open the PostgreSQL store "
            f"(DSN from ${store.postgres_env})"
        )
        there = False  # a dry run connects to nothing
        secrets = _dsn_secrets(os.environ.get(store.postgres_env or "", ""))
    return _Means(
        addresses={wanted: addresses[wanted]} if wanted else addresses,
        tokens=None if args.dry_run else deployment.token_service(clock),
        store=None if args.dry_run and not there else lambda: deployment.open_store(clock),
        unopened=unopened,
        channels=lambda: iter(deployment.create_channels(registry).items()),
        batch=deployment.dispatch.batch,
        secrets=secrets,
    )


def _dsn_secrets(dsn: str) -> tuple[str, ...]:
    """A DSN, and the password in it: what a message about the store must never show."""
    secrets = [dsn]
    with contextlib.suppress(Exception):  # psycopg is optional; an unreadable DSN hides whole
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - PostgreSQL stores only

        secrets.append(str(conninfo_to_dict(dsn).get("password") or ""))
    return tuple(s for s in secrets if s)


def _without_deployment(
    args: argparse.Namespace, clock: Clock, registry: ChannelRegistry
) -> _Means:
    """``--store`` (a SQLite file), ``$CXCORE_TOKEN_KEYS`` and the installed channels.

    Each channel is created with no options: a plugin that needs some (the
    email channel) is refused when it is created, with a usage error that
    points to the deployment file.

    Args:
        args: The command line: ``--store``, ``--channel`` and ``--dry-run`` matter here.
        clock: Tells the time, to the store and the token service.
        registry: Where the channels' plugins are found.

    Raises:
        UsageError: If ``--channel`` names no installed channel that reaches an
            address, or none is installed, or the keys are unset or too short.
    """
    _, addresses = _channels(registry, args.channel)
    path: Path = args.store or DEFAULT_STORE

    def channels() -> Iterator[tuple[str, Channel]]:
        for name in addresses:
            try:
                channel = registry.create(name)
            except Exception as exc:  # noqa: BLE001 - a plugin's constructor may raise anything
                msg = (
                    f"channel {name!r} cannot be created without options ({type(exc).__name__}: "
                    f"{exc}): describe its instance in a deployment file, cxcore.toml "
                    f"(--config PATH, or ${CONFIG_VARIABLE}), or choose another with --channel"
                )
                raise UsageError(msg) from None
            yield name, channel

    return _Means(
        addresses=addresses,
        tokens=None if args.dry_run else _tokens(clock),
        store=None if args.dry_run and not path.exists() else lambda: _sqlite(path, clock),
        unopened=f"--store: cannot open {str(path)!r}",
        channels=channels,
    )


def _sqlite(path: Path, clock: Clock) -> Store:
    from cxcore.stores import SQLiteStore  # noqa: PLC0415 - only the command needs the store

    return SQLiteStore(path, clock=clock)


def _rule_set(
    base: RuleSet,
    surveys: Sequence[str],
    addresses: dict[str, AddressKind],
    args: argparse.Namespace,
) -> RuleSet:
    """The base rules' caps and quiet hours, one rule per survey sent, on *addresses*' channels."""
    names = tuple(addresses)
    policy = ChannelPolicy(
        fallback=names,
        anonymous=(),
        opt_in_required=tuple(c for c in base.channels.opt_in_required if c in addresses),
        addresses=addresses,
    )
    rules = [
        TriggerRule(
            id=f"send_{survey}",
            touchpoint=f"send_{survey}",
            survey=survey,
            channels=(args.channel,) if args.channel else (),
            expires_days=args.expires_days,
        )
        for survey in surveys
    ]
    return attrs.evolve(base, rules=[*base.rules, *rules], channels=policy)


def _decide(
    rules: RuleSet,
    row: AudienceRow,
    *,
    survey: str,
    campaign: str,
    state: FatigueState,
    clock: Clock,
) -> tuple[Interaction, Decision]:
    assert row.customer is not None  # noqa: S101 - valid rows only
    interaction = Interaction(
        id=f"{campaign}:{row.customer.id}",
        touchpoint=f"send_{survey}",
        customer_id=row.customer.id,
        occurred_at=clock.now(),
    )
    return interaction, decide(rules, interaction, row.customer, state, clock)


def _skip_reason(decision: Decision) -> str:
    reason = decision.reason.value if decision.reason else "skipped"
    if decision.eligible_at is not None:
        return f"{reason} (eligible again at {decision.eligible_at.isoformat()})"
    return reason


def _survey_cells(text: str) -> set[str]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "survey" not in reader.fieldnames:
        return set()
    return {(r.get("survey") or "").strip() for r in reader} - {""}


async def _send(  # noqa: C901, PLR0912, PLR0915 - one command, read top to bottom
    args: argparse.Namespace, out: TextIO, err: TextIO, clock: Clock, registry: ChannelRegistry
) -> int:
    defined = {s.id: s for s in load_definitions(*args.definitions).surveys}
    deployment = _deployment_file(args.config)
    means = (
        _without_deployment(args, clock, registry)
        if deployment is None
        else await _from_deployment(deployment, args, clock, registry)
    )
    addresses = dict(means.addresses)
    base = load_rules(args.rules) if args.rules else RuleSet()
    tokens = means.tokens
    raw: bytes = args.audience.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{args.audience}: is not UTF-8 text (a binary file?): byte at offset {exc.start}"
        raise CxError(msg) from None
    campaign = args.campaign or clock.now().date().isoformat()
    async with AsyncExitStack() as stack:
        # Every channel is created (none connected) before anything is stored,
        # so a channel that cannot be leaves no invitation behind.
        channels: dict[str, Channel] = {}
        if not args.dry_run:
            for name, channel in means.channels():
                stack.push_async_callback(channel.aclose)
                channels[name] = channel
        # A dry run writes nothing: it reads the store only if there is one already.
        store = await stack.enter_async_context(_open_store(means))
        surveys = dict(defined)
        if not args.dry_run:
            for survey in defined.values():
                await store.put_survey(survey)
        for survey_id in {args.survey, *_survey_cells(text)} - set(surveys):
            with contextlib.suppress(UnknownSurveyError):
                surveys[survey_id] = await store.survey(survey_id)
        if args.survey not in surveys:
            msg = (
                f"--survey: {args.survey!r} is not a known survey (known: "
                f"{', '.join(sorted(surveys)) or 'none'}; pass --definitions FILE)"
            )
            raise CxError(msg)
        try:
            rows = list(read_audience(io.StringIO(text), surveys=surveys))
        except AudienceError as exc:
            msg = f"{args.audience}: {exc}"
            raise CxError(msg) from None
        used = sorted({r.survey or args.survey for r in rows if r.customer is not None})
        rules = _rule_set(base, used, addresses, args)
        state = FatigueState()
        tally = _Tally()
        outbox = None if tokens is None else Outbox(store, tokens, clock=clock)
        due: dict[str, int] = {}  # outbox item id -> row, for what is due now
        repeats: set[str] = set()  # those an earlier run of the campaign scheduled
        # Invitations being stored, up to _WINDOW at once, so that the store
        # commits them in groups rather than one fsync each.
        storing: list[tuple[AudienceRow, Decision, Coroutine[Any, Any, Scheduled]]] = []

        def counted(decision: Decision) -> None:
            if decision.due_at is not None and decision.due_at > clock.now():
                when = decision.due_at.isoformat()
                tally.deferred[f"{decision.deferred_by or 'due later'}, until {when}"] += 1
            else:
                tally.sent += 1  # a dry run: would be sent now
            progress.advance()

        async def stored() -> None:
            results = await asyncio.gather(*(job for *_, job in storing), return_exceptions=True)
            for (row, decision, _), result in zip(storing, results, strict=True):
                if isinstance(result, InviteRefusedError):  # asked before, or meanwhile
                    # The run decides on what it asked itself; the store knows who else was.
                    tally.skipped[_skip_reason(skip_refused(rules, decision, result, state))] += 1
                    progress.advance()
                elif isinstance(result, CxError):  # nothing of the row was stored
                    tally.fail(row.row, f"row {row.row}: {result}")
                    progress.advance()
                elif isinstance(result, BaseException):
                    raise result
                elif decision.due_at is not None and decision.due_at <= clock.now():
                    due[result.item.id] = row.row  # counted when dispatched
                    if not result.created:
                        repeats.add(result.item.id)
                else:
                    counted(decision)
            storing.clear()

        with _Progress(len(rows), enabled=not args.no_progress, err=err) as progress:
            for row in rows:
                if row.customer is None:
                    for error in row.errors:
                        tally.fail(row.row, str(error))
                    progress.advance()
                    continue
                interaction, decision = _decide(
                    rules,
                    row,
                    survey=row.survey or args.survey,
                    campaign=campaign,
                    state=state,
                    clock=clock,
                )
                if not decision.invite or decision.due_at is None:
                    tally.skipped[_skip_reason(decision)] += 1
                    progress.advance()
                    continue
                # Recorded now, so the rows after it see it (a person listed twice is
                # asked once) while it is being stored.
                record(state, decision)
                if outbox is None:
                    counted(decision)
                    continue
                job = outbox.schedule(
                    decision, customer=row.customer, interaction=interaction, name=row.name
                )
                storing.append((row, decision, job))
                if len(storing) >= _WINDOW:
                    await stored()
            await stored()
            if due:
                dispatcher = Dispatcher(store, channels, clock=clock, batch=means.batch)
                await _dispatch(dispatcher, due=due, tally=tally, progress=progress)
            for item_id in due:  # not sent by this run
                if item_id in repeats:
                    tally.skipped[f"invited by an earlier run of campaign {campaign!r}"] += 1
                else:  # claimed by another dispatcher sharing the store
                    tally.deferred["claimed by another dispatcher"] += 1
                progress.advance()
    err.writelines(f"{args.audience}: {failure}\n" for failure in tally.failed)
    mode = " (dry run: nothing stored or sent)" if args.dry_run else ""
    out.write(
        f"cxcore send: survey {args.survey!r}, campaign {campaign!r}, {len(rows)} rows{mode}\n"
    )
    tally.print(out, dry_run=args.dry_run)
    return 1 if tally.failed or tally.unknown else 0


class _NoStore:
    """The store of a dry run where there is none: knows no survey, and is never written."""

    async def survey(self, survey_id: str) -> NoReturn:
        raise UnknownSurveyError(survey_id)


@contextlib.asynccontextmanager
async def _open_store(means: _Means) -> AsyncIterator[Any]:
    """The store, opened; on a dry run with no store to read, a stand-in that creates none.

    Raises:
        UsageError: If the store cannot be opened (the message names where it
            is set, and shows no DSN or password).
    """
    if means.store is None:
        yield _NoStore()
        return
    store = means.store()
    try:
        await store.open()
    except (sqlite3.Error, StoreError) as exc:
        await store.aclose()
        what = " as a SQLite store" if isinstance(exc, sqlite3.Error) else ""
        why = " ".join(str(exc).split())  # one line: a driver's message may have several
        msg = redact(f"{means.unopened}{what}: {why}", means.secrets)
        raise UsageError(msg) from None
    try:
        yield store
    finally:
        await store.aclose()


async def _dispatch(
    dispatcher: Dispatcher, *, due: dict[str, int], tally: _Tally, progress: _Progress
) -> None:
    """Send what is due, pass after pass, until the outbox has nothing due; count this run's.

    What this run scheduled and sent is taken out of *due*; what is left was
    not sent by this run.
    """
    await dispatcher.recover()
    while len(report := await dispatcher.run_once()):
        for outcome in report.outcomes:
            row = due.pop(outcome.item_id, None)
            if row is not None:  # not another run's leftover
                tally.outcome(row, outcome)
                progress.advance()
