"""Building a deployment's real parts (store, tokens, channels), reading the environment then."""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

from cxcore.deployment.environment import ENV_SUFFIX, env_value, looks_secret, redact
from cxcore.deployment.problems import DeploymentError, Problems, join, shown, suggest
from cxcore.errors import ChannelError, CxError, Problem, ValidationError
from cxcore.model.frozendict import FrozenDict
from cxcore.ports.channel import Capabilities

if TYPE_CHECKING:
    from cxcore.collector.widget import WidgetApp
    from cxcore.deployment.settings import AppSettings, ChannelSettings, Deployment
    from cxcore.distribution.tokens import TokenService
    from cxcore.ports.channel import Channel
    from cxcore.ports.clock import Clock
    from cxcore.ports.registry import ChannelRegistry
    from cxcore.ports.store import Store

__all__ = ["check", "create_channels", "open_store", "token_service"]

_KEYS_EXPECTED = (
    "expected one or more secret keys of at least 32 bytes, newest first, separated by commas"
)
_DSN_EXPECTED = "expected a PostgreSQL DSN, such as postgresql://user:password@host:5432/db"
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_SEQUENCES = (
    list,
    tuple,
    collections.abc.Sequence,
    collections.abc.Iterable,
    collections.abc.Collection,
)
_MAPPINGS = (dict, collections.abc.Mapping)


def _failed(deployment: Deployment, problems: Problems) -> DeploymentError:
    return DeploymentError(shown(deployment.source), problems.found)


# -- the store ---------------------------------------------------------------------------


def _dsn(deployment: Deployment, environ: Mapping[str, str], problems: Problems) -> str | None:
    var = deployment.store.postgres_env
    assert var is not None  # noqa: S101 - a PostgreSQL store names its variable
    dsn = env_value(environ, var)
    if dsn is None:
        problems.add("store.postgres_env", f"${var} is not set ({_DSN_EXPECTED})")
    return dsn


def open_store(deployment: Deployment, clock: Clock | None, environ: Mapping[str, str]) -> Store:
    """The deployment's store, not yet opened."""
    if deployment.store.sqlite is not None:
        from cxcore.stores import SQLiteStore  # noqa: PLC0415 - the store loads on first use

        return SQLiteStore(deployment.store.sqlite, clock=clock)
    problems = Problems()
    dsn = _dsn(deployment, environ, problems)
    if dsn is None:
        raise _failed(deployment, problems)
    from cxcore.stores import PostgresStore  # noqa: PLC0415 - psycopg loads on first use

    return PostgresStore(dsn, clock=clock)


def _check_store(deployment: Deployment, environ: Mapping[str, str], problems: Problems) -> None:
    sqlite = deployment.store.sqlite
    if sqlite is not None:
        if sqlite.is_dir():
            problems.add("store.sqlite", f"{str(sqlite)!r} is a folder (expected a file)")
        elif not sqlite.parent.is_dir():
            problems.add(
                "store.sqlite", f"{str(sqlite)!r}: its folder {str(sqlite.parent)!r} does not exist"
            )
        return
    dsn = _dsn(deployment, environ, problems)
    try:
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - optional, checked here
        from psycopg_pool import AsyncConnectionPool  # noqa: F401, PLC0415
    except ModuleNotFoundError as exc:
        problems.add(
            "store",
            f"a PostgreSQL store needs {exc.name}: install cxcore with the postgres extra "
            '(pip install "cxcore[postgres]")',
        )
        return
    if dsn is None:
        return
    try:
        conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - psycopg's message may quote the DSN: not shown
        var = deployment.store.postgres_env
        problems.add(
            "store.postgres_env",
            f"${var} is not a DSN that psycopg can read ({_DSN_EXPECTED}; the value is not shown)",
        )


# -- tokens ----------------------------------------------------------------------------


def _token_service(
    deployment: Deployment, clock: Clock | None, environ: Mapping[str, str], problems: Problems
) -> TokenService | None:
    from cxcore.distribution.tokens import TokenService  # noqa: PLC0415 - loads itsdangerous
    from cxcore.ports.clock import SystemClock  # noqa: PLC0415

    var = deployment.tokens.keys_env
    raw = env_value(environ, var) or ""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        problems.add("tokens.keys_env", f"${var} is not set ({_KEYS_EXPECTED})")
        return None
    try:
        return TokenService(keys, clock=clock or SystemClock())
    except ValueError as exc:  # its checks name the key by position, never by value
        problems.add("tokens.keys_env", f"${var}: {exc}")
        return None


def token_service(
    deployment: Deployment, clock: Clock | None, environ: Mapping[str, str]
) -> TokenService:
    """The deployment's token service, with its keys from the environment."""
    problems = Problems()
    service = _token_service(deployment, clock, environ, problems)
    if service is None:
        raise _failed(deployment, problems)
    return service


# -- channels ----------------------------------------------------------------------------


class _Plan:
    """One channel instance, ready to be created: its class and the keyword arguments.

    The arguments hold secrets read from the environment: never shown.
    """

    def __init__(
        self, settings: ChannelSettings, factory: type[Channel], kwargs: dict[str, Any]
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.kwargs = kwargs
        self.secrets = [
            v for option, v in kwargs.items() if option in settings.env and isinstance(v, str)
        ]

    def __repr__(self) -> str:
        return f"_Plan({self.settings.instance!r}, {self.factory.__qualname__})"

    def create(self, problems: Problems) -> Channel | None:
        """The channel, or ``None`` with a problem if its constructor refuses."""
        try:
            return self.factory(**self.kwargs)
        except Exception as exc:  # noqa: BLE001 - any refusal is reported with the others
            self.refused(problems, "refuses its options", exc)
            return None

    def refused(self, problems: Problems, what: str, exc: BaseException) -> None:
        detail = str(exc) if isinstance(exc, CxError) else f"{type(exc).__name__}: {exc}"
        problems.add(
            join("channels", self.settings.instance),
            redact(f"the {self.settings.plugin!r} plugin {what}: {detail}", self.secrets),
        )


def _qualname(factory: type) -> str:
    return f"{factory.__module__}:{factory.__qualname__}"


def _hints(factory: type) -> dict[str, Any]:
    """The constructor's parameter types, where Python can resolve them (else none)."""
    try:
        return typing.get_type_hints(factory.__init__)  # type: ignore[misc] # a class's constructor
    except Exception:  # noqa: BLE001 - a plugin's annotations may not resolve: checked at creation
        return {}


def _fits(value: object, hint: Any) -> bool:  # noqa: ANN401, PLR0911 - any type hint
    """Whether *value*, read from a file, is of type *hint* (``True`` when that cannot be told)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return True
    if origin is typing.Union or origin is types.UnionType:
        return any(_fits(value, arg) for arg in args)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in _SEQUENCES or hint in _SEQUENCES:
        if not isinstance(value, list | tuple):
            return False
        inner = args[0] if args and (origin is not tuple or args[-1] is Ellipsis) else Any
        return all(_fits(v, inner) for v in value)
    if origin in _MAPPINGS or hint in _MAPPINGS:
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        try:
            return isinstance(value, hint)
        except TypeError:  # a protocol that is not runtime-checkable
            return True
    return True


def _from_a_file(hint: Any) -> bool:  # noqa: ANN401 - any type hint
    """Whether a value written in a TOML file can be of type *hint*."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_from_a_file(a) for a in typing.get_args(hint) if a is not type(None))
    if hint in (str, int, float, bool) or origin is Literal:
        return True
    if (origin or hint) in _SEQUENCES + _MAPPINGS:
        return True
    return not isinstance(hint, type)  # Any, a type variable...: cannot tell


def _describe(hint: Any) -> str:  # noqa: ANN401 - any type hint
    """A type hint in words."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    words = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
    if hint in words:
        return words[hint]
    if origin in _SEQUENCES:
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin in _MAPPINGS:
        return "a table"
    if isinstance(hint, type):
        return f"{hint.__module__}.{hint.__qualname__}".removeprefix("builtins.")
    return str(hint)


def _from_environment(text: str, hint: Any) -> object:  # noqa: ANN401 - any type hint
    """An option's value read from the environment: text, or the number or flag *hint* wants."""
    if hint is None or _fits(text, hint):
        return text
    candidates: list[object] = []
    if text.strip().lower() in _TRUE | _FALSE:
        candidates.append(text.strip().lower() in _TRUE)
    for number in (int, float):
        with contextlib.suppress(ValueError):
            candidates.append(number(text))
    return next((c for c in candidates if _fits(c, hint)), text)


def _thawed(value: object) -> object:
    """A value as a constructor takes it: tables as dicts, lists as lists."""
    if isinstance(value, FrozenDict):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


@attrs.frozen
class _Constructor:
    """What a plugin's constructor takes, as far as its signature tells."""

    origin: str
    qualname: str
    named: Mapping[str, inspect.Parameter]
    takes_any: bool
    hints: Mapping[str, Any]

    @classmethod
    def of(cls, plugin: str, factory: type) -> _Constructor:
        try:
            params = dict(inspect.signature(factory).parameters)
        except (TypeError, ValueError):  # no signature to read: the constructor decides
            params = {}
        return cls(
            origin=f"the {plugin!r} plugin",
            qualname=_qualname(factory),
            named={
                name: p
                for name, p in params.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            },
            takes_any=not params or any(p.kind is p.VAR_KEYWORD for p in params.values()),
            hints=_hints(factory),
        )


def _arguments(
    settings: ChannelSettings,
    constructor: _Constructor,
    environ: Mapping[str, str],
    problems: Problems,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The options of the file and of the environment; and where in the file each is named."""
    path = join("channels", settings.instance)
    kwargs: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for option, value in settings.options.items():
        kwargs[option], keys[option] = _thawed(value), join(path, option)
    for option, var in settings.env.items():
        keys[option] = join(path, f"{option}{ENV_SUFFIX}")
        text = env_value(environ, var)
        if text is None:
            problems.add(
                keys[option], f"${var} is not set (expected the {option} of {constructor.origin})"
            )
        else:
            kwargs[option] = _from_environment(text, constructor.hints.get(option))
    return kwargs, keys


def _check_arguments(
    settings: ChannelSettings,
    constructor: _Constructor,
    kwargs: Mapping[str, Any],
    keys: Mapping[str, str],
    problems: Problems,
) -> None:
    """Report options the constructor does not take, or of the wrong type, and missing ones."""
    hints = constructor.hints
    for option, key in sorted(keys.items()):
        if not constructor.takes_any and option not in constructor.named:
            problems.add(
                key,
                f"{option} is not an option of {constructor.origin} ({constructor.qualname})"
                f"{suggest(option, constructor.named)}",
            )
        elif option in kwargs and option in hints and not _fits(kwargs[option], hints[option]):
            expected = _describe(hints[option])
            if option in settings.env:
                problems.add(
                    key,
                    f"${settings.env[option]} is not {expected}, which {option} takes "
                    "(the value is not shown)",
                )
            elif not _from_a_file(hints[option]):
                problems.add(key, f"cannot be set in a deployment file: {option} takes {expected}")
            else:
                problems.add(key, f"{kwargs[option]!r} is not {expected}")
    for name, p in constructor.named.items():
        if p.default is p.empty and name not in kwargs and name not in keys:
            how = (
                f" (a secret: name the environment variable holding it with "
                f'{name}{ENV_SUFFIX} = "VAR")'
                if looks_secret(name)
                else ""
            )
            problems.add(
                join("channels", settings.instance),
                f"{name} is missing: {constructor.origin} requires it{how}",
            )


def _plan(
    deployment: Deployment,
    settings: ChannelSettings,
    registry: ChannelRegistry,
    environ: Mapping[str, str],
    problems: Problems,
) -> _Plan | None:
    path = join("channels", settings.instance)
    try:
        factory = registry.get(settings.plugin)
    except ChannelError as exc:
        key = join(path, "plugin") if settings.plugin != settings.instance else path
        problems.add(key, f"{exc}{suggest(settings.plugin, registry.names())}")
        return None
    before = len(problems.found)
    capabilities = getattr(factory, "capabilities", None)
    if isinstance(capabilities, Capabilities):
        from cxcore.scoring import MissingDependencyError  # noqa: PLC0415 - only on failure

        for module in capabilities.missing():  # every send would fail: refused now
            missing = MissingDependencyError(module, f"sending with plugin {settings.plugin!r}")
            problems.add(path, str(missing))
    constructor = _Constructor.of(settings.plugin, factory)
    kwargs, keys = _arguments(settings, constructor, environ, problems)
    injected = {
        "base_url": deployment.collector.public_url,
        "inbound_url": deployment.inbound_url(settings.instance),
    }
    kwargs.update({k: v for k, v in injected.items() if k in constructor.named and k not in keys})
    _check_arguments(settings, constructor, kwargs, keys, problems)
    if len(problems.found) > before:
        return None
    return _Plan(settings, factory, kwargs)


def _plans(
    deployment: Deployment,
    registry: ChannelRegistry,
    environ: Mapping[str, str],
    problems: Problems,
) -> list[_Plan]:
    plans = [
        _plan(deployment, settings, registry, environ, problems)
        for settings in deployment.channels.values()
    ]
    return [p for p in plans if p is not None]


def create_channels(
    deployment: Deployment, registry: ChannelRegistry, environ: Mapping[str, str]
) -> dict[str, Channel]:
    """Every channel instance, created; or every problem of every instance."""
    problems = Problems()
    plans = _plans(deployment, registry, environ, problems)
    if problems:  # create nothing unless every instance can be
        raise _failed(deployment, problems)
    channels: dict[str, Channel] = {}
    for plan in plans:
        channel = plan.create(problems)
        if channel is not None:
            channels[plan.settings.instance] = channel
    if problems:  # the others were created, not connected: nothing to close
        raise _failed(deployment, problems)
    return channels


# -- everything ------------------------------------------------------------------------


def _check_files(deployment: Deployment, problems: Problems) -> None:
    """The definition and rules files ``cxcore serve`` reads: there, and without problems."""
    from cxcore.definitions import load_definitions  # noqa: PLC0415 - only when checking
    from cxcore.distribution.rules import load_rules  # noqa: PLC0415

    collector = deployment.collector
    definitions = None
    files = [deployment.path(name) for name in collector.definitions]
    for i, path in enumerate(files):
        if not path.is_file():
            problems.add(f"collector.definitions[{i}]", f"{str(path)!r} is not a file")
    if files and all(path.is_file() for path in files):
        try:
            definitions = load_definitions(*files)
        except CxError as exc:
            problems.add("collector.definitions", _one_line(exc))
    if collector.rules is not None:
        path = deployment.path(collector.rules)
        if not path.is_file():
            problems.add("collector.rules", f"{str(path)!r} is not a file")
            return
        try:
            load_rules(path, definitions=definitions)
        except CxError as exc:
            problems.add("collector.rules", _one_line(exc))


def _one_line(exc: Exception) -> str:
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


async def check(
    deployment: Deployment, registry: ChannelRegistry, environ: Mapping[str, str]
) -> list[Problem]:
    """Every problem the environment, the store settings and the plugins give the deployment."""
    problems = Problems()
    _check_store(deployment, environ, problems)
    _token_service(deployment, None, environ, problems)
    _check_files(deployment, problems)
    for app_id, app in deployment.apps.items():
        _user_secret(f"apps.{app_id}", app, environ, problems)
    for plan in _plans(deployment, registry, environ, problems):
        channel = plan.create(problems)
        if channel is None:
            continue
        try:
            await channel.aclose()
        except Exception as exc:  # noqa: BLE001 - reported with the others
            plan.refused(problems, "failed to close", exc)
    return problems.found


def _user_secret(
    path: str, settings: AppSettings, environ: Mapping[str, str], problems: Problems
) -> tuple[bool, str | None]:
    """Whether the app's user secret is usable, and the secret (``None`` if it names none)."""
    if settings.user_secret_env is None:
        return True, None
    secret = environ.get(settings.user_secret_env)
    if not secret:
        problems.add(
            f"{path}.user_secret_env",
            f"the environment variable {settings.user_secret_env} is not set "
            "(expected the secret the app's backend signs user tokens with)",
        )
        return False, None
    return True, secret


def widget_apps(deployment: Deployment, environ: Mapping[str, str]) -> list[WidgetApp]:
    """The deployment's widget apps, their user secrets read from *environ*."""
    from cxcore.collector.widget import WidgetApp  # noqa: PLC0415 - the server extra, on use

    problems = Problems()
    apps: list[WidgetApp] = []
    for app_id, settings in deployment.apps.items():
        path = f"apps.{app_id}"
        usable, secret = _user_secret(path, settings, environ, problems)
        if not usable:
            continue
        try:
            apps.append(
                WidgetApp(
                    id=app_id,
                    key=settings.key,
                    origins=settings.origins,
                    name=settings.name,
                    user_secret=secret,
                    channel=settings.channel,
                    touchpoints=settings.touchpoints,
                    anonymous=settings.anonymous,
                )
            )
        except ValidationError as exc:
            for problem in exc.problems:
                problems.add(f"{path}.{problem.path}", problem.message)
    if problems:
        raise DeploymentError(str(deployment.source), problems.found)
    return apps
