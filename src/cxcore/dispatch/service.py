"""The ``cxcore dispatch`` command: a long-running dispatcher, configured by the deployment file.

.. code-block:: console

    $ cxcore dispatch --config /srv/cx/cxcore.toml

It opens the store, creates the channels, hands back claims a stopped
dispatcher left, then sends what the outbox owes, pass after pass, until
``SIGTERM`` or ``SIGINT``. It then lets the sends under way end, hands back
whatever it still holds, closes the channels and the store, and exits 0. A
second signal stops it at once: the sends under way are handed back as
``unknown``, to be reconciled. Several may run against one PostgreSQL store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Mapping

from cxcore.deployment import Deployment, DeploymentError
from cxcore.deployment.cli import add_config_argument, read_config
from cxcore.deployment.problems import shown
from cxcore.dispatch.dispatcher import Dispatcher
from cxcore.errors import CxError, Problem
from cxcore.ports.channel import Channel
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.registry import ChannelRegistry
from cxcore.ports.store import OutboxState, Store

__all__ = ["dispatch_until", "register", "run"]

log = logging.getLogger("cxcore.dispatch")

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``dispatch`` subcommand; it runs :func:`run`.

    .. versionadded:: 0.1.0
    """
    parser = subparsers.add_parser(
        "dispatch",
        help="send what the outbox owes, until stopped (SIGTERM or SIGINT)",
        description="Run a dispatcher for the deployment file's store and channels until "
        "SIGTERM or SIGINT, then stop cleanly: the sends under way end, claims are handed "
        "back, channels and store are closed. Run it apart from `cxcore serve` to scale out; "
        "several may share a PostgreSQL store. Each pass is logged to standard error.",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--log-level", choices=_LEVELS, default="INFO", help="what to log (default: INFO)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``cxcore dispatch``: 0 once stopped cleanly; 1 if it cannot start or is cut short.

    .. versionadded:: 0.1.0
    """
    deployment = read_config(args.config, sys.stderr)
    if isinstance(deployment, int):
        return deployment
    # cxcore's own loggers, on standard error, for this command only.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("cxcore")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(args.log_level)
    try:
        return asyncio.run(_until_signalled(deployment))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _until_signalled(deployment: Deployment) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None  # noqa: S101 - run by asyncio.run

    def signalled(signum: signal.Signals) -> None:
        if stop.is_set():
            log.warning("%s again: stopping now; sends under way are handed back", signum.name)
            main.cancel()
        else:
            log.info("%s: stopping once the sends under way end", signum.name)
            stop.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, signalled, signum)
    try:
        await dispatch_until(deployment, stop)
    except asyncio.CancelledError:
        return 1
    except (CxError, OSError) as exc:
        sys.stderr.write(f"cxcore dispatch: error: {exc}\n")
        return 1
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    return 0


async def dispatch_until(
    deployment: Deployment,
    stop: asyncio.Event,
    *,
    registry: ChannelRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> None:
    """Dispatch the deployment's outbox until *stop* is set, then close everything.

    Opens the store, creates the channels, recovers claims whose lease ran
    out, then runs :meth:`Dispatcher.run <cxcore.dispatch.Dispatcher.run>`.
    Once it returns (or is cancelled), the claims this dispatcher still holds
    are handed back as ``unknown`` (they may have reached the provider), the
    channels are closed, then the store.

    Args:
        deployment: What to dispatch, with what.
        stop: Set it to stop.
        registry: Where channel plugins are found (default: the installed ones).
        environ: Where environment variables are read (default: ``os.environ``).
        clock: Tells the time (default: the system's).

    Raises:
        DeploymentError: If the channels cannot be created, or there are none.
        StoreError: If the store cannot be opened.

    .. versionadded:: 0.1.0
    """
    clock = clock or SystemClock()
    channels = deployment.create_channels(registry, environ=environ)
    if not channels:
        problem = Problem("channels", "names no channel instance: there is nothing to send on")
        raise DeploymentError(shown(deployment.source), [problem])
    try:
        store = deployment.open_store(clock, environ=environ)
        await store.open()
        try:
            dispatcher = Dispatcher(store, channels, clock=clock, batch=deployment.dispatch.batch)
            log.info(
                "dispatcher %s: %s store, channels %s, batch %d, every %g s when idle",
                dispatcher.worker_id,
                deployment.store.kind,
                ", ".join(sorted(channels)),
                dispatcher.batch,
                deployment.dispatch.interval,
            )
            try:
                await dispatcher.recover()
                await dispatcher.run(stop, interval=deployment.dispatch.interval)
            finally:
                await _hand_back(store, dispatcher.worker_id, clock)
        finally:
            await store.aclose()
    finally:
        await _close(channels)
    log.info("dispatcher stopped")


async def _hand_back(store: Store, worker_id: str, clock: Clock) -> None:
    """Hand back what *worker_id* still holds: unknown, since a send may have gone."""
    held = await store.release_claims(worker_id, now=clock.now(), to=OutboxState.UNKNOWN)
    if held:
        log.warning(
            "%d claimed sends were cut short: now unknown, to be reconciled (outbox items %s)",
            len(held),
            ", ".join(item.id for item in held),
        )


async def _close(channels: Mapping[str, Channel]) -> None:
    for name, channel in channels.items():
        try:
            await channel.aclose()
        except Exception:
            log.exception("channel %s failed to close", name)
