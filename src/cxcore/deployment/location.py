"""Where the deployment file is: ``--config``, else ``$CXCORE_CONFIG``, else ``./cxcore.toml``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CONFIG_VARIABLE", "DEFAULT_FILE", "find_deployment"]

CONFIG_VARIABLE = "CXCORE_CONFIG"
"""The environment variable naming the deployment file, when no ``--config`` is given."""

DEFAULT_FILE = "cxcore.toml"
"""The deployment file looked for in the current folder, when nothing else names one."""


def find_deployment(
    config: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The deployment file to read: *config*, else ``$CXCORE_CONFIG``, else ``./cxcore.toml``.

    >>> find_deployment("/srv/cx/cxcore.toml", environ={})
    PosixPath('/srv/cx/cxcore.toml')
    >>> find_deployment(environ={"CXCORE_CONFIG": "/etc/cxcore.toml"})
    PosixPath('/etc/cxcore.toml')
    >>> find_deployment(environ={})
    PosixPath('cxcore.toml')

    Args:
        config: The path given on the command line (``--config``), if any.
        environ: Where ``CXCORE_CONFIG`` is read (default: ``os.environ``).

    Returns:
        The path (it may not exist; :func:`load_deployment` says so).

    .. versionadded:: 0.1.0
    """
    if config is not None and os.fspath(config):
        return Path(config)
    named = (os.environ if environ is None else environ).get(CONFIG_VARIABLE, "")
    return Path(named) if named else Path(DEFAULT_FILE)
