"""Reading a deployment file: TOML in, a :class:`Deployment` out, or every problem at once."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from cxcore.deployment.environment import (
    ENV_SUFFIX,
    PATH_WORDS,
    is_env_name,
    looks_secret,
)
from cxcore.deployment.problems import DeploymentError, Problems, join, kind, suggest
from cxcore.deployment.settings import (
    DEFAULT_KEYS_VARIABLE,
    AppSettings,
    ChannelSettings,
    CollectorSettings,
    Deployment,
    DispatchSettings,
    StoreSettings,
    TokenSettings,
)
from cxcore.errors import Problem
from cxcore.model.frozendict import FrozenDict

__all__ = ["load_deployment", "loads_deployment"]

_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_DSN_KEYS = frozenset({"postgres", "postgresql", "dsn", "url", "postgres_url", "postgres_dsn"})
_EXAMPLE = "https://cx.example.in"
_ENV_EXPECTED = "expected the name of an environment variable: letters, digits and '_'"


class _Bad:
    """What a reader returns for a value it reported as a problem."""


BAD: Final = _Bad()
REQUIRED: Final = object()

Reader = Callable[[Problems, str, Any], Any]


@attrs.frozen
class Setting:
    """One key of a table: how to read it, and its default (or :data:`REQUIRED`).

    A section of the file is a sequence of these, so a setting added later is
    one more line where its section is declared.
    """

    name: str
    read: Reader
    default: Any = REQUIRED
    expected: str = ""


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

# -- readers of one value ----------------------------------------------------------------


def _text(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, str) or not value.strip():
        problems.add(path, f"{value!r} is not text (expected a non-empty string)")
        return BAD
    return value


def _whole(low: int, high: int | None = None) -> Reader:
    expected = f"{low} or more" if high is None else f"{low} to {high}"

    def read(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < low
            or (high is not None and value > high)
        ):
            problems.add(path, f"{value!r} is not a whole number {expected}")
            return BAD
        return value

    return read


def _seconds(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 86400:
        problems.add(path, f"{value!r} is not a number of seconds (expected more than 0)")
        return BAD
    return float(value)


def _flag(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, bool):
        problems.add(path, f"{value!r} is not true or false")
        return BAD
    return value


def _env_name(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not is_env_name(value):
        problems.add(path, _not_env_name(value))
        return BAD
    return value


def _not_env_name(value: object) -> str:
    # A value that is not a variable's name may be the secret itself: never shown.
    if isinstance(value, str):
        return f"is not an environment variable's name ({_ENV_EXPECTED}; the value is not shown)"
    return f"is {kind(value)} ({_ENV_EXPECTED})"


def _public_url(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    expected = f"expected an absolute http or https URL, such as {_EXAMPLE!r}"
    if not isinstance(value, str):
        problems.add(path, f"is {kind(value)} ({expected})")
        return BAD
    parts = urlsplit(value)
    if "@" in parts.netloc:
        problems.add(path, "holds a user name or password (the value is not shown; expected none)")
        return BAD
    if parts.scheme not in ("http", "https") or not parts.hostname or _CONTROL.search(value):
        problems.add(
            path, f"{value!r} is not an absolute http or https URL (expected e.g. {_EXAMPLE!r})"
        )
        return BAD
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        problems.add(path, f"{value!r} has a port that is not a number from 0 to 65535")
        return BAD
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        problems.add(
            path, f"{value!r} has a query or a fragment (expected none: links are built under it)"
        )
        return BAD
    return value.rstrip("/")


def _senders(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, list):
        problems.add(
            path, f"{value!r} is not a list (expected email addresses and domains, in a list)"
        )
        return BAD
    senders: list[str] = []
    for i, sender in enumerate(value):
        if not isinstance(sender, str) or not (
            _EMAIL.fullmatch(sender) or _DOMAIN.fullmatch(sender)
        ):
            problems.add(
                f"{path}[{i}]",
                f"{sender!r} is not an email address or a domain "
                "(expected e.g. 'surveys@bazaar.example.in' or 'bazaar.example.in')",
            )
        else:
            senders.append(sender.lower())
    return tuple(senders) if len(senders) == len(value) else BAD


def _files(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(
            path, f"{value!r} is not a list of file names (expected e.g. ['surveys.toml'])"
        )
        return BAD
    return tuple(value)


def _file(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, str) or not value.strip():
        problems.add(path, f"{value!r} is not a file name (expected e.g. 'rules.toml')")
        return BAD
    return value


def _ids(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, list) or not all(
        isinstance(v, str) and _ID.fullmatch(v) for v in value
    ):
        problems.add(path, f"{value!r} is not a list of survey ids (expected e.g. ['store_exit'])")
        return BAD
    return tuple(value)


def _rate(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if value is False:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        problems.add(path, f"{value!r} is not a number of requests a second above 0, or false")
        return BAD
    return float(value)


COLLECTOR: Sequence[Setting] = (
    Setting("public_url", _public_url, expected="the collector's public http(s) URL"),
    Setting("host", _text, "127.0.0.1"),
    Setting("port", _whole(0, 65535), 8000),
    Setting("max_body_bytes", _whole(1), 65536),
    Setting("amp_senders", _senders, ()),
    Setting("definitions", _files, ()),
    Setting("rules", _file, None),
    Setting("agent_surveys", _ids, ()),
    Setting("rate_per_address", _rate, 20.0),
    Setting("address_burst", _whole(1), 60),
    Setting("rate_per_key", _rate, 500.0),
    Setting("key_burst", _whole(1), 1000),
    Setting("kiosk_rate", _rate, 2.0),
    Setting("kiosk_burst", _whole(1), 30),
    Setting("keep_alive", _seconds, 5.0),
)
"""The ``[collector]`` table."""

TOKENS: Sequence[Setting] = (Setting("keys_env", _env_name, DEFAULT_KEYS_VARIABLE),)
"""The ``[tokens]`` table."""

DISPATCH: Sequence[Setting] = (
    Setting("batch", _whole(1), 100),
    Setting("interval", _seconds, 1.0),
    Setting("in_serve", _flag, default=True),
)
"""The ``[dispatch]`` table."""

SECTIONS: Final = ("store", "collector", "tokens", "dispatch", "channels", "apps")


# -- tables ----------------------------------------------------------------------------


def _is_table(problems: Problems, path: str, value: object, expected: str) -> bool:
    if isinstance(value, dict):
        return True
    problems.add(path, f"is {kind(value)} (expected {expected})")
    return False


def _unknown(problems: Problems, path: str, key: str, allowed: Sequence[str]) -> None:
    where = join(path, key)
    secret = f"{key}{ENV_SUFFIX}"
    if secret in allowed:
        problems.add(where, _secret_message(key))
        return
    problems.add(where, f"is not a setting of [{path}]{_suggest_or_list(key, allowed)}")


def _suggest_or_list(key: str, allowed: Sequence[str]) -> str:
    return suggest(key, allowed) or f" (expected one of: {', '.join(allowed)})"


def _secret_message(key: str) -> str:
    return (
        "is a secret, and secrets never go in the file: put it in an environment variable "
        f'and name that variable with {key}{ENV_SUFFIX} = "VAR" (the value is not shown)'
    )


def _table(
    problems: Problems, path: str, value: object, settings: Sequence[Setting]
) -> dict[str, Any] | None:
    """Read the table *value* at *path* as *settings* declare it; ``None`` if it has problems."""
    if value is None:
        value = {}
    if not _is_table(problems, path, value, f"a table: [{path}]"):
        return None
    assert isinstance(value, dict)  # noqa: S101 - for the type checker: just checked
    names = [s.name for s in settings]
    before = len(problems.found)
    for key in value:
        if key not in names:
            _unknown(problems, path, key, names)
    read: dict[str, Any] = {}
    for setting in settings:
        if setting.name in value:
            read[setting.name] = setting.read(
                problems, join(path, setting.name), value[setting.name]
            )
        elif setting.default is REQUIRED:
            problems.add(join(path, setting.name), f"is missing (expected {setting.expected})")
        else:
            read[setting.name] = setting.default
    return read if len(problems.found) == before else None


def _store(problems: Problems, value: object, folder: Path) -> StoreSettings | None:
    expected = (
        'expected sqlite = "cx.db", or postgres_env = "NAME" naming the environment '
        "variable that holds a PostgreSQL DSN"
    )
    if value is None:
        problems.add("store", f"is missing ({expected})")
        return None
    if not _is_table(problems, "store", value, f"a table: [store]; {expected}"):
        return None
    assert isinstance(value, dict)  # noqa: S101 - for the type checker: just checked
    before = len(problems.found)
    for key in value:
        if key in _DSN_KEYS:
            problems.add(
                join("store", key),
                "would put the database password in the file: set postgres_env to the name "
                "of the environment variable that holds the DSN (the value is not shown)",
            )
        elif key not in ("sqlite", "postgres_env"):
            _unknown(problems, "store", key, ["sqlite", "postgres_env"])
    has_sqlite, has_postgres = "sqlite" in value, "postgres_env" in value
    if has_sqlite and has_postgres:
        problems.add("store", "names both sqlite and postgres_env (expected one of them)")
    elif not has_sqlite and not has_postgres:
        problems.add("store", f"names neither sqlite nor postgres_env ({expected})")
    sqlite = postgres = None
    if has_sqlite:
        path = value["sqlite"]
        if not isinstance(path, str) or not path.strip():
            problems.add("store.sqlite", f"{path!r} is not a file name (expected e.g. 'cx.db')")
        else:
            sqlite = folder / path
    if has_postgres:
        postgres = _env_name(problems, "store.postgres_env", value["postgres_env"])
    if len(problems.found) > before:
        return None
    return StoreSettings(sqlite=sqlite, postgres_env=postgres)


# -- channels ----------------------------------------------------------------------------


def _frozen(value: Any) -> Any:  # noqa: ANN401 - a TOML value
    """*value* with lists as tuples and tables as :class:`FrozenDict`, so settings stay values."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return FrozenDict({k: _frozen(v) for k, v in value.items()})
    return value


def _names_a_file(key: str) -> bool:
    return key.rsplit("_", 1)[-1].lower() in PATH_WORDS


def _secrets_inside(problems: Problems, path: str, value: object) -> None:
    """Report secret-looking keys in tables inside an option: those cannot come from elsewhere."""
    if isinstance(value, dict):
        for key, inner in value.items():
            where = join(path, key)
            if looks_secret(key) and not isinstance(inner, bool):
                problems.add(
                    where,
                    "is a secret, and secrets never go in the file; inside a table it cannot "
                    "be read from the environment either: only an option of the channel itself "
                    "can, with <option>_env (the value is not shown)",
                )
            else:
                _secrets_inside(problems, where, inner)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _secrets_inside(problems, f"{path}[{i}]", inner)


def _option_env(
    problems: Problems, where: str, key: str, value: object, table: Mapping[str, object]
) -> str | None:
    """The variable ``<option>_env`` names, or ``None`` with a problem."""
    option = key.removesuffix(ENV_SUFFIX)
    if option == "plugin":
        problems.add(where, "the plugin is named in the file, not in the environment")
    elif not is_env_name(value):
        problems.add(where, _not_env_name(value))
    elif option in table:
        problems.add(where, f"{option} is given twice: in the file and by {key} (keep one of them)")
    else:
        assert isinstance(value, str)  # noqa: S101 - for the type checker: a variable's name
        return value
    return None


def _channel(
    problems: Problems, instance: str, table: object, folder: Path
) -> ChannelSettings | None:
    path = join("channels", instance)
    before = len(problems.found)
    if not _INSTANCE.fullmatch(instance):
        problems.add(
            path,
            f"{instance!r} is not a valid instance name (expected 1-64 letters, digits, '_' or "
            "'-', starting with a letter or digit: it is part of the channel's URL)",
        )
    if not _is_table(problems, path, table, "a table of the channel's options"):
        return None
    assert isinstance(table, dict)  # noqa: S101 - for the type checker: just checked
    plugin = table.get("plugin", instance)
    if not isinstance(plugin, str) or not plugin.strip():
        problems.add(
            join(path, "plugin"),
            f"{plugin!r} is not a plugin name (expected the name of an entry point "
            "in the group cxcore.channels, e.g. 'email')",
        )
    options: dict[str, Any] = {}
    env: dict[str, str] = {}
    for key, value in table.items():
        if key == "plugin":
            continue
        where = join(path, key)
        if key.endswith(ENV_SUFFIX) and key != ENV_SUFFIX:
            var = _option_env(problems, where, key, value, table)
            if var is not None:
                env[key.removesuffix(ENV_SUFFIX)] = var
        elif looks_secret(key) and not isinstance(value, bool):
            problems.add(where, _secret_message(key))
        else:
            _secrets_inside(problems, where, value)
            if _names_a_file(key) and isinstance(value, str) and value:
                value = os.fspath(folder / value)  # noqa: PLW2901 - the value, made absolute
            options[key] = _frozen(value)
    if len(problems.found) > before:
        return None
    return ChannelSettings(
        instance=instance, plugin=str(plugin), options=FrozenDict(options), env=FrozenDict(env)
    )


def _channels(
    problems: Problems, value: object, folder: Path
) -> FrozenDict[str, ChannelSettings] | None:
    if value is None:
        return FrozenDict()
    if not _is_table(problems, "channels", value, "a table per channel: [channels.<instance>]"):
        return None
    assert isinstance(value, dict)  # noqa: S101 - for the type checker: just checked
    channels = {name: _channel(problems, name, table, folder) for name, table in value.items()}
    if any(c is None for c in channels.values()):
        return None
    return FrozenDict({name: c for name, c in channels.items() if c is not None})


# -- apps of the in-app widget -------------------------------------------------------------

_PUBLISHABLE = re.compile(r"pk_[A-Za-z0-9_-]{16,64}")
_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9a-fA-F:.]+\])(:[0-9]{1,5})?")


def _publishable(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, str) or not _PUBLISHABLE.fullmatch(value):
        problems.add(
            path,
            f"{value!r} is not a publishable key (expected pk_ and 16 to 64 letters, digits, "
            "'_' or '-'; cxcore.collector.widget.new_publishable_key() makes one)",
        )
        return BAD
    return value


def _origin_list(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401 - a TOML value
    if not isinstance(value, list) or not value:
        problems.add(path, f"{value!r} is not a list of origins (expected e.g. [{_EXAMPLE!r}])")
        return BAD
    bad = [(i, o) for i, o in enumerate(value) if not (isinstance(o, str) and _ORIGIN.fullmatch(o))]
    for i, origin in bad:
        problems.add(
            f"{path}[{i}]",
            f"{origin!r} is not an origin (expected scheme://host[:port], no path or slash)",
        )
    return BAD if bad else tuple(value)


def _event_touchpoints(problems: Problems, path: str, value: Any) -> Any:  # noqa: ANN401
    if not isinstance(value, dict) or not all(
        isinstance(v, str) and _ID.fullmatch(v) for v in value.values()
    ):
        problems.add(
            path, f"{value!r} is not a table of event to touchpoint (expected e.g. {{a = 'b'}})"
        )
        return BAD
    return FrozenDict(value)


APP: Sequence[Setting] = (
    Setting("key", _publishable, expected="the app's publishable key, pk_..."),
    Setting("origins", _origin_list, expected="the origins the app's pages are served from"),
    Setting("name", _text, ""),
    Setting("user_secret_env", _env_name, None),
    Setting("channel", _text, "inapp"),
    Setting("touchpoints", _event_touchpoints, FrozenDict()),
    Setting("anonymous", _flag, default=True),
)
"""An ``[apps.<id>]`` table."""


def _apps(problems: Problems, value: object) -> FrozenDict[str, AppSettings] | None:
    if value is None:
        return FrozenDict()
    if not _is_table(problems, "apps", value, "a table per app: [apps.<id>]"):
        return None
    assert isinstance(value, dict)  # noqa: S101 - for the type checker: just checked
    apps: dict[str, AppSettings] = {}
    keys: dict[str, str] = {}
    before = len(problems.found)
    for app_id, table in value.items():
        path = join("apps", app_id)
        if not _INSTANCE.fullmatch(app_id):
            problems.add(path, f"{app_id!r} is not an app id (expected letters, digits, '_', '-')")
        read = _table(problems, path, table, APP)
        if read is None:
            continue
        if read["key"] in keys:
            problems.add(join(path, "key"), f"is also the key of app {keys[read['key']]!r}")
        keys[read["key"]] = app_id
        apps[app_id] = AppSettings(id=app_id, **read)
    return FrozenDict(apps) if len(problems.found) == before else None


# -- the file ----------------------------------------------------------------------------


def read_deployment(data: Mapping[str, Any], *, source: Path, shown: str) -> Deployment:
    """Build a :class:`Deployment` from a parsed file; paths are relative to *source*'s folder.

    *shown* names the file in messages.

    Raises:
        DeploymentError: Listing every problem of the file.
    """
    problems = Problems()
    for key, value in data.items():
        if key not in SECTIONS:
            what = "table" if isinstance(value, dict) else "setting"
            problems.add(
                key, f"is not a {what} of a deployment file{_suggest_or_list(key, SECTIONS)}"
            )
    folder = source.parent
    store = _store(problems, data.get("store"), folder)
    collector = None
    if "collector" in data:
        collector = _table(problems, "collector", data["collector"], COLLECTOR)
    else:
        problems.add("collector", "is missing (expected [collector] with public_url)")
    tokens = _table(problems, "tokens", data.get("tokens"), TOKENS)
    dispatch = _table(problems, "dispatch", data.get("dispatch"), DISPATCH)
    channels = _channels(problems, data.get("channels"), folder)
    apps = _apps(problems, data.get("apps"))
    if (
        problems
        or apps is None
        or store is None
        or collector is None
        or tokens is None
        or dispatch is None
        or channels is None
    ):
        raise DeploymentError(shown, problems.found)
    return Deployment(
        source=source,
        store=store,
        collector=CollectorSettings(**collector),
        tokens=TokenSettings(**tokens),
        dispatch=DispatchSettings(**dispatch),
        channels=channels,
        apps=apps,
    )


def loads_deployment(
    text: str, *, folder: str | os.PathLike[str] = ".", name: str = "cxcore.toml"
) -> Deployment:
    """Read a deployment from TOML *text*, as if it were the file *name* in *folder*.

    >>> d = loads_deployment('''
    ... [store]
    ... sqlite = "cx.db"
    ... [collector]
    ... public_url = "https://cx.example.in/"
    ... [channels.email]
    ... sender = "surveys@bazaar.example.in"
    ... password_env = "SMTP_PASSWORD"
    ... ''', folder="/srv/cx")
    >>> d.store.sqlite, d.collector.public_url, d.inbound_url("email")
    (PosixPath('/srv/cx/cx.db'), 'https://cx.example.in', 'https://cx.example.in/c/email')
    >>> email = d.channels["email"]
    >>> email.plugin, dict(email.options), dict(email.env)
    ('email', {'sender': 'surveys@bazaar.example.in'}, {'password': 'SMTP_PASSWORD'})

    Args:
        text: The file's content.
        folder: The folder relative paths in it are relative to (default: the
            current one).
        name: The file's name, for messages.

    Raises:
        DeploymentError: Listing every problem of the file.

    .. versionadded:: 0.1.0
    """
    return _loads(text, Path(folder).absolute() / name, name)


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    """Read the deployment file at *path* (``cxcore.toml``).

    Relative paths in it are relative to its folder. Every problem is reported
    at once; none shows a secret.

    Raises:
        DeploymentError: If it cannot be read, is not TOML, or has problems
            (listing each with its place in the file).

    .. versionadded:: 0.1.0
    """
    source = Path(path).absolute()
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problem = Problem("", "cannot be read: it is not UTF-8 text")
        raise DeploymentError(str(path), [problem]) from None
    except OSError as exc:
        problem = Problem("", f"cannot be read: {exc.strerror or exc}")
        raise DeploymentError(str(path), [problem]) from None
    return _loads(text, source, os.fspath(path))


def _loads(text: str, source: Path, shown: str) -> Deployment:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says where, never what: no secret of a broken line is shown.
        raise DeploymentError(shown, [Problem("", f"is not valid TOML: {exc}")]) from None
    return read_deployment(data, source=source, shown=shown)
