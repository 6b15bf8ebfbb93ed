"""The ``cxcore config check`` command, and the ``--config`` option every deployment command shares.

.. code-block:: console

    $ cxcore config check --config /srv/cx/cxcore.toml
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO

from cxcore.deployment.location import CONFIG_VARIABLE, DEFAULT_FILE, find_deployment
from cxcore.deployment.problems import DeploymentError, shown
from cxcore.deployment.reading import load_deployment
from cxcore.deployment.settings import Deployment
from cxcore.ports.clock import Clock
from cxcore.ports.store import Store, StoreError

__all__ = ["add_config_argument", "read_config", "register"]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--config PATH``, the deployment file, to *parser*.

    .. versionadded:: 0.1.0
    """
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"the deployment file (default: ${CONFIG_VARIABLE}, else ./{DEFAULT_FILE})",
    )


def read_config(config: str | None, err: TextIO) -> Deployment | int:
    """The deployment the command line names; or, its problems printed to *err*, an exit status.

    Args:
        config: The ``--config`` argument, if given.
        err: Where problems are printed.

    Returns:
        The deployment; or 2 if its file is missing or cannot be read (the
        command cannot run as given), 1 if the file has problems.

    .. versionadded:: 0.1.0
    """
    path = find_deployment(config)
    if not path.is_file():
        how = "" if config else f" (name it with --config PATH, or ${CONFIG_VARIABLE})"
        what = "is not a file" if path.exists() else "no such deployment file"
        err.write(f"{path}: {what}{how}\n")
        return 2
    try:
        return load_deployment(path)
    except DeploymentError as exc:
        err.write(f"{exc}\n")
        return 1
    except OSError as exc:
        err.write(f"{path}: cannot be read: {exc.strerror or exc}\n")
        return 2


async def open_store_or_refuse(deployment: Deployment, clock: Clock | None = None) -> Store:
    """The deployment's store, opened; or the command's one-line refusal naming the setting.

    Raises:
        UsageError: If the store cannot be opened (exit status 2, no traceback).
    """
    from cxcore.cli import UsageError  # noqa: PLC0415 - cxcore.cli imports this module

    store = deployment.open_store(clock)
    try:
        await store.open()
    except (StoreError, OSError) as exc:
        where = "store.sqlite" if deployment.store.kind == "sqlite" else "store.postgres_env"
        msg = f"the store cannot be opened ({where} in {deployment.source}): {exc}"
        raise UsageError(msg) from None
    return store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``config`` command and its ``check`` subcommand.

    .. versionadded:: 0.1.0
    """
    config = subparsers.add_parser(
        "config",
        help="check the deployment file (cxcore.toml)",
        description="Commands about the deployment file: the store, the collector, keys "
        "and channels of a deployment.",
    )
    commands = config.add_subparsers(title="commands", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="print every problem of the deployment file and its environment",
        description="Read the deployment file, then check the environment variables it names, "
        "the store's settings and each channel (its plugin loads and accepts its options; "
        "nothing is connected). Every problem is printed with its place in the file, and the "
        "exit status is 1 if there is any; else a summary of the deployment. No secret is "
        "ever printed.",
    )
    add_config_argument(check)
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Run ``cxcore config check``: 0 if usable, 1 if it has problems, 2 if the file is missing.

    .. versionadded:: 0.1.0
    """
    deployment = read_config(args.config, sys.stderr)
    if isinstance(deployment, int):
        return deployment
    quiet = logging.getLogger("cxcore.channels")
    previous, quiet.disabled = quiet.disabled, True  # a plugin that fails is a problem below
    try:
        problems = deployment.check()
    finally:
        quiet.disabled = previous
    if problems:
        sys.stderr.write(f"{DeploymentError(shown(deployment.source), problems)}\n")
        return 1
    _summary(deployment, sys.stdout)
    return 0


def _summary(deployment: Deployment, out: TextIO) -> None:
    store = deployment.store
    where = (
        f"SQLite file {store.sqlite}"
        if store.sqlite is not None
        else f"PostgreSQL, DSN from ${store.postgres_env}"
    )
    collector = deployment.collector
    dispatch = deployment.dispatch
    channels = ", ".join(f"{name} (plugin {c.plugin!r})" for name, c in deployment.channels.items())
    lines = [
        f"ok: {deployment.source}",
        f"  store:      {where}",
        f"  public URL: {collector.public_url}",
        f"  listens on: {collector.host}:{collector.port}",
        f"  tokens:     keys from ${deployment.tokens.keys_env}",
        f"  dispatch:   batch {dispatch.batch}, every {dispatch.interval:g} s when idle, "
        + ("inside cxcore serve" if dispatch.in_serve else "apart (cxcore dispatch)"),
        f"  channels:   {channels or 'none'}",
    ]
    out.write("\n".join(lines) + "\n")
