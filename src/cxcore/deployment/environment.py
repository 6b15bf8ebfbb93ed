"""Secrets by environment variable: which names look secret, and reading what a file names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["ENV_SUFFIX", "PATH_WORDS", "SECRET_WORDS", "looks_secret", "redact"]

ENV_SUFFIX = "_env"
"""An option ``<name>_env = "VAR"`` means: read option ``<name>`` from the variable ``VAR``."""

SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "credential",
        "dsn",
        "key",
        "passphrase",
        "passwd",
        "password",
        "pwd",
        "secret",
        "token",
    }
)
"""Words that make an option's name look secret: ``password``, ``api_key``, ``auth_token``..."""

PATH_WORDS = frozenset({"file", "path", "dir"})
"""Last words of options that name a file (``tls_ca_file``): never secret, relative to the file."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_WORDS = re.compile(r"[a-z0-9]+")
_HIDDEN = "***"
_SHORTEST_REDACTED = 4


def is_env_name(value: object) -> bool:
    """Whether *value* can name an environment variable (letters, digits and ``_``)."""
    return isinstance(value, str) and _ENV_NAME.fullmatch(value) is not None


def looks_secret(name: str) -> bool:
    """Whether an option called *name* is likely to hold a secret.

    Its words (split at ``_``, ``-`` and case changes) are compared with
    ``password``, ``passwd``, ``pwd``, ``passphrase``, ``secret``, ``token``,
    ``key``, ``apikey``, ``auth``, ``dsn`` and ``credential``, plurals too:
    ``smtp_password``, ``apiKey`` and ``auth_tokens`` look secret; ``keyword``
    and ``monkey`` do not. A name that ends in ``file``, ``path`` or ``dir``
    names a file, which is not secret itself (``dkim_key_file``).

    >>> names = ("password", "api_key", "authToken", "keywords", "sender", "dkim_key_file")
    >>> [looks_secret(n) for n in names]
    [True, True, True, False, False, False]

    .. versionadded:: 0.1.0
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    words = _WORDS.findall(spaced)
    if words and words[-1] in PATH_WORDS:
        return False
    joined = "".join(words)
    return joined in SECRET_WORDS or any(w.removesuffix("s") in SECRET_WORDS for w in words)


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """The value of the variable *name*, or ``None`` if it is unset or empty."""
    value = environ.get(name)
    return value or None


def redact(text: str, secrets: Iterable[str]) -> str:
    """*text* with every occurrence of each of *secrets* replaced by ``***``.

    Error messages from a channel's constructor may quote what it was given;
    whatever came from the environment is taken out before they are shown.

    >>> redact("login 'surveys' with 'hunter22' refused", ["hunter22"])
    "login 'surveys' with '***' refused"

    .. versionadded:: 0.1.0
    """
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= _SHORTEST_REDACTED:
            text = text.replace(secret, _HIDDEN)
    return text
