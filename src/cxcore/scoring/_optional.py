"""Importing the optional libraries (pandas, polars, pyarrow) only when they are used."""

from __future__ import annotations

import importlib
from typing import Any

from cxcore.errors import CxError

__all__ = ["MissingDependencyError", "optional_module"]

_EXTRAS = {
    "pandas": "pip install pandas (or cxcore[notebook])",
    "polars": "pip install polars",
    "pyarrow": "pip install pyarrow (or cxcore[parquet])",
    "vaderSentiment": "pip install 'cxcore[text]'",
    "sklearn": "pip install 'cxcore[text]'",
    "twilio": "pip install 'cxcore[sms]'",
    "aiosmtplib": "pip install 'cxcore[email]'",
}


class MissingDependencyError(CxError, ImportError):
    """An optional library that a function needs is not installed.

    .. versionadded:: 0.1.0
    """

    def __init__(self, module: str, purpose: str) -> None:
        self.module = module
        hint = _EXTRAS.get(module.split(".", maxsplit=1)[0], f"pip install {module}")
        super().__init__(
            f"{purpose} needs the optional library {module!r}; install it with: {hint}"
        )


def optional_module(name: str, purpose: str) -> Any:  # noqa: ANN401 - the module's API is dynamic
    """Import module *name*, or raise :class:`MissingDependencyError` saying why it is needed."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(name, purpose) from exc
