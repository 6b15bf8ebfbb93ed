"""``cxcore serve`` runs the collector under uvicorn; ``cxcore keys`` issues API keys.

Both read the deployment file.

.. code-block:: console

    $ cxcore serve --config /srv/cx/cxcore.toml
    $ cxcore keys add pos-bazaar --scope interactions
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cxcore.cli import UsageError
from cxcore.deployment.cli import add_config_argument, open_store_or_refuse, read_config
from cxcore.deployment.problems import DeploymentError, shown
from cxcore.errors import CxError
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.store import OutboxState, Store

# Only the commands themselves load the server, the rules and the dispatcher: every
# other `cxcore` command builds this module's parsers without paying for them.
if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp

    from cxcore.deployment import Deployment
    from cxcore.distribution.rules import RuleSet
    from cxcore.model.survey import Survey
    from cxcore.ports.channel import Channel

__all__ = ["build_app", "register"]

log = logging.getLogger("cxcore.collector")

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_SCOPES = ("answers", "agent", "interactions", "live")


def _surveys(deployment: Deployment) -> tuple[list[Survey], RuleSet | None]:
    from cxcore.definitions import load_definitions  # noqa: PLC0415 - see the imports
    from cxcore.distribution.rules import load_rules  # noqa: PLC0415

    files = [deployment.path(name) for name in deployment.collector.definitions]
    definitions = load_definitions(*files) if files else None
    rules = None
    if deployment.collector.rules is not None:
        rules = load_rules(deployment.path(deployment.collector.rules), definitions=definitions)
    return list(definitions.surveys if definitions else ()), rules


def build_app(
    deployment: Deployment,
    *,
    dispatch: bool | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    freeze_gc: bool = False,
) -> Starlette:
    """The app ``cxcore serve`` runs: the deployment's collector, its store and maybe a dispatcher.

    The collector is mounted at the path of the public URL (at the root, its
    own app is returned, with the lifespan below). On startup the
    store is opened and the surveys of the deployment's definition files are
    stored; unless *dispatch* is false (default: the deployment's
    ``dispatch.in_serve``), a dispatcher runs in the same process. On shutdown
    the dispatcher hands back what it holds, then channels and store close.

    With *freeze_gc* (``cxcore serve`` sets it), once started the process's
    objects are moved out of the garbage collector's reach
    (``gc.freeze()``): what the server holds for its life (modules,
    definitions, templates) is then never traversed again, so a full
    collection no longer stops every request for some 20 ms. Leave it off
    when the app is mounted in a process that starts more after it.

    Raises:
        DeploymentError: If a part cannot be built from the file and environment.
        DefinitionError: If a definition or rules file has problems.

    .. versionadded:: 0.1.0
    """
    from starlette.applications import Starlette  # noqa: PLC0415 - see the imports
    from starlette.routing import Mount  # noqa: PLC0415

    from cxcore.collector.app import Collector  # noqa: PLC0415
    from cxcore.collector.kiosk import KioskLimits  # noqa: PLC0415
    from cxcore.collector.security import RateLimits  # noqa: PLC0415

    clock = clock or SystemClock()
    surveys, rules = _surveys(deployment)
    store = deployment.open_store(clock, environ=environ)
    tokens = deployment.token_service(clock, environ=environ)
    channels = deployment.create_channels(environ=environ)
    if rules is not None:  # invite only on the channels this deployment runs
        rules = rules.on_channels({n: type(c).capabilities.address for n, c in channels.items()})
    settings = deployment.collector
    collector = Collector(
        store=store,
        tokens=tokens,
        public_url=settings.public_url,
        channels=channels,
        amp_senders=settings.amp_senders,
        rules=rules,
        agent_surveys=settings.agent_surveys,
        clock=clock,
        max_body_bytes=settings.max_body_bytes,
        limits=RateLimits(
            per_address=settings.rate_per_address,
            address_burst=settings.address_burst,
            per_key=settings.rate_per_key,
            key_burst=settings.key_burst,
        ),
        apps=deployment.widget_apps(environ=environ),
        kiosk_limits=KioskLimits(rate=settings.kiosk_rate, burst=settings.kiosk_burst),
    )
    in_serve = deployment.dispatch.in_serve if dispatch is None else dispatch

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await store.open()
        try:
            for survey in surveys:
                await store.put_survey(survey)
            async with _dispatching(deployment, store, channels, clock, on=in_serve):
                log.info(
                    "collector at %s: %s store, channels %s, dispatcher %s",
                    settings.public_url,
                    deployment.store.kind,
                    ", ".join(sorted(channels)) or "none",
                    "in this process" if in_serve and channels else "apart",
                )
                if freeze_gc:
                    gc.collect()
                    gc.freeze()
                yield
        finally:
            await collector.aclose()
            for channel in channels.values():
                with contextlib.suppress(Exception):
                    await channel.aclose()
            await store.aclose()

    base_path = collector.context.base_path
    if base_path:  # served under a path of its host (https://example.in/cx)
        return Starlette(routes=[Mount(base_path, collector)], lifespan=lifespan)
    # At the root, the collector's own app is served, with the lifespan above:
    # no second router and error middleware in front of every request.
    collector.app.router.lifespan_context = lifespan
    return collector.app


@asynccontextmanager
async def _dispatching(
    deployment: Deployment, store: Store, channels: dict[str, Channel], clock: Clock, *, on: bool
) -> AsyncIterator[None]:
    if not on or not channels:
        yield
        return
    from cxcore.dispatch.dispatcher import Dispatcher  # noqa: PLC0415 - see the imports

    dispatcher = Dispatcher(store, channels, clock=clock, batch=deployment.dispatch.batch)
    await dispatcher.recover()
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop, interval=deployment.dispatch.interval))
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 30)
        except TimeoutError:
            log.warning("the dispatcher did not stop within 30 s; its sends are handed back")
        await store.release_claims(dispatcher.worker_id, now=clock.now(), to=OutboxState.UNKNOWN)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` and ``keys`` commands.

    .. versionadded:: 0.1.0
    """
    serve = subparsers.add_parser(
        "serve",
        help="run the collector: survey pages, AMP forms, webhooks, APIs, live scores",
        description="Run the collector of the deployment file under uvicorn (uvloop and "
        "httptools when installed), with a dispatcher in the same process unless "
        "--no-dispatch or [dispatch] in_serve = false. Stops cleanly on SIGTERM or SIGINT.",
    )
    add_config_argument(serve)
    serve.add_argument("--host", help="listen on this interface (default: the file's)")
    serve.add_argument(
        "--port", type=_port, help="listen on this port, 0 to 65535 (default: the file's)"
    )
    serve.add_argument(
        "--no-dispatch", action="store_true", help="run no dispatcher (run `cxcore dispatch` apart)"
    )
    serve.add_argument("--log-level", choices=_LEVELS, default="INFO", help="default: INFO")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes serving the port, each with its own event loop, store connections "
        "and (unless --no-dispatch) dispatcher (default: 1)",
    )
    serve.set_defaults(handler=run_serve)

    keys = subparsers.add_parser(
        "keys",
        help="issue, list and revoke API keys (kiosks, points of sale, staff)",
        description="API keys let systems call the collector. The store keeps only a digest: "
        "a new key is shown once.",
    )
    commands = keys.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help="issue a key and print it once")
    add.add_argument("name", help="what the key is for, e.g. 'kiosk-BLR-01-exit'")
    add.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=_SCOPES,
        help="what it may do (repeat for several)",
    )
    listing = commands.add_parser("list", help="list keys: id, name, scopes, issued, revoked")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument(
        "id", help="the key's id: the 12 hex digits after 'cxk_', as `cxcore keys list` shows"
    )
    for parser in (add, listing, revoke):
        add_config_argument(parser)
    add.set_defaults(handler=lambda args: _keys(args, "add"))
    listing.set_defaults(handler=lambda args: _keys(args, "list"))
    revoke.set_defaults(handler=lambda args: _keys(args, "revoke"))


def run_serve(args: argparse.Namespace) -> int:
    """Run ``cxcore serve``: 0 once stopped by a signal.

    Everything that can be checked is checked before the server starts, and
    refused as every command does (:func:`cxcore.cli.main`): 1 if the
    deployment, its definition or rules files have problems; 2 if the file is
    missing, the store cannot be opened or the port cannot be listened on.

    .. versionadded:: 0.1.0
    """
    import uvicorn  # noqa: PLC0415 - only the command needs the server

    deployment = read_config(args.config, sys.stderr)
    if isinstance(deployment, int):
        return deployment
    host = args.host or deployment.collector.host
    port = deployment.collector.port if args.port is None else args.port
    problems = deployment.check()  # every problem at once, before any part is built
    if problems:
        raise DeploymentError(shown(deployment.source), problems)
    app = build_app(deployment, dispatch=False if args.no_dispatch else None, freeze_gc=True)
    _can_listen(host, port)
    asyncio.run(_prepare(deployment))
    if args.workers > 1:  # each worker builds its own app: the one above proved it builds
        return _run_workers(deployment, args, host, port)
    served, handler = _logged(app, args.log_level)
    settings = _uvicorn_settings(deployment, host, port, args.log_level)
    server = uvicorn.Server(uvicorn.Config(served, **settings))
    # uvicorn stops on SIGTERM or SIGINT, then raises the signal again for the
    # handler it found: ours notes it, so a clean stop exits 0.
    signals = (signal.SIGTERM, signal.SIGINT)
    stops: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: stops.append(signum)) for s in signals}
    try:
        server.run()
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        logging.getLogger("cxcore").removeHandler(handler)
    return 0 if server.started else 1


_WORKER_DISPATCH = "CXCORE_SERVE_DISPATCH"
_WORKER_LOG_LEVEL = "CXCORE_SERVE_LOG_LEVEL"


def _run_workers(deployment: Deployment, args: argparse.Namespace, host: str, port: int) -> int:
    """Serve the port from ``args.workers`` processes: uvicorn's supervisor and its workers.

    The workers are started afresh (not forked) and build the app from the
    same deployment file, which the environment names, with
    :func:`worker_app`. uvicorn restarts a worker that dies, and stops them
    all on SIGTERM or SIGINT.
    """
    import uvicorn  # noqa: PLC0415 - only the command needs the server

    from cxcore.deployment.location import CONFIG_VARIABLE  # noqa: PLC0415

    os.environ[CONFIG_VARIABLE] = str(Path(deployment.source).resolve())
    os.environ[_WORKER_DISPATCH] = "no" if args.no_dispatch else "yes"
    os.environ[_WORKER_LOG_LEVEL] = args.log_level
    uvicorn.run(
        "cxcore.collector.cli:worker_app",
        factory=True,
        workers=args.workers,
        **_uvicorn_settings(deployment, host, port, args.log_level),
    )
    return 0


def worker_app() -> ASGIApp:
    """The app of one process of ``cxcore serve --workers N``, as its environment describes it.

    The supervising ``cxcore serve`` has checked the deployment file, opened
    the store and stored the surveys before any worker starts; each worker
    then builds its own collector, store connections and, unless
    ``--no-dispatch``, dispatcher (dispatchers in several processes claim
    sends without overlap).

    .. versionadded:: 0.1.0
    """
    from cxcore.deployment import load_deployment  # noqa: PLC0415
    from cxcore.deployment.location import CONFIG_VARIABLE  # noqa: PLC0415

    deployment = load_deployment(os.environ[CONFIG_VARIABLE])
    dispatch = False if os.environ.get(_WORKER_DISPATCH) == "no" else None
    app = build_app(deployment, dispatch=dispatch, freeze_gc=True)
    served, _ = _logged(app, os.environ.get(_WORKER_LOG_LEVEL, "INFO"))
    return served


def _logged(app: ASGIApp, level: str) -> tuple[ASGIApp, logging.Handler]:
    """Send cxcore's log to stderr at *level*; *app* with an access line a request at INFO."""
    from cxcore.collector.security import ACCESS_LOGGER, AccessLog  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("cxcore")
    logger.addHandler(handler)
    logger.setLevel(level)
    # A line a request at INFO; below that level, no wrapper to pass through at all.
    logged = logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)
    return (AccessLog(app) if logged else app), handler


def _uvicorn_settings(deployment: Deployment, host: str, port: int, level: str) -> dict[str, Any]:
    """How ``cxcore serve`` runs uvicorn, in one process or several."""
    return {
        "host": host,
        "port": port,
        "timeout_keep_alive": deployment.collector.keep_alive,
        "loop": _installed("uvloop", "auto"),
        "http": _installed("httptools", "auto"),
        "lifespan": "on",
        "access_log": False,  # AccessLog masks tokens; uvicorn's would not
        "log_level": level.lower(),
        "server_header": False,
    }


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        msg = f"{text!r} is not a port (expected a whole number from 0 to 65535)"
        raise argparse.ArgumentTypeError(msg)
    return value


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"{text!r} is not a number of processes (1 or more)"
        raise argparse.ArgumentTypeError(msg)
    return value


def _can_listen(host: str, port: int) -> None:
    """Refuse, before anything starts, a host and port nobody can listen on."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        msg = f"cannot listen on {host}:{port}: {exc.strerror or exc} (see --host, --port)"
        raise UsageError(msg) from None


async def _prepare(deployment: Deployment) -> None:
    """Open the store and store the surveys once before serving, so startup cannot fail later."""
    surveys, _ = _surveys(deployment)
    store = await open_store_or_refuse(deployment)
    try:
        for survey in surveys:
            await store.put_survey(survey)
    finally:
        await store.aclose()


def _installed(module: str, fallback: str) -> str:
    try:
        __import__(module)
    except ImportError:
        return fallback
    return module


def _keys(args: argparse.Namespace, what: str) -> int:
    deployment = read_config(args.config, sys.stderr)
    if isinstance(deployment, int):
        return deployment
    return asyncio.run(_run_keys(deployment, args, what, sys.stdout))


async def _run_keys(
    deployment: Deployment, args: argparse.Namespace, what: str, out: TextIO
) -> int:
    from cxcore.api_keys import issue_api_key  # noqa: PLC0415 - see the imports

    clock = SystemClock()
    store = await open_store_or_refuse(deployment, clock)
    try:
        if what == "add":
            issued = issue_api_key(args.name, sorted(set(args.scope)), at=clock.now())
            await store.add_api_key(issued.key)
            scopes = ", ".join(sorted(issued.key.scopes))
            out.write(
                f"{issued.secret}\n"
                f"key {issued.key.id} ({args.name}; scopes: {scopes}). "
                "It is shown this once: the store keeps only its digest.\n"
            )
        elif what == "list":
            keys = await store.api_keys()
            if not keys:
                out.write("no API keys (issue one with `cxcore keys add NAME --scope SCOPE`)\n")
            for key in keys:
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
                out.write(
                    f"{key.id}  {key.name}  [{', '.join(sorted(key.scopes))}]  "
                    f"issued {key.created_at:%Y-%m-%d %H:%M}  {state}\n"
                )
        else:
            if await store.api_key(args.id) is None:
                msg = f"no API key {args.id!r} (see `cxcore keys list`)"
                raise CxError(msg)
            key = await store.revoke_api_key(args.id, at=clock.now())
            out.write(f"key {key.id} ({key.name}) is revoked\n")
    finally:
        await store.aclose()
    return 0
