"""A deployment: what its file says, as frozen values that hold no secret."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from cxcore.deployment import building
from cxcore.errors import Problem
from cxcore.model.frozendict import FrozenDict

if TYPE_CHECKING:
    from cxcore.collector.widget import WidgetApp
    from cxcore.distribution.tokens import TokenService
    from cxcore.ports.channel import Channel
    from cxcore.ports.clock import Clock
    from cxcore.ports.registry import ChannelRegistry
    from cxcore.ports.store import Store

__all__ = [
    "AppSettings",
    "ChannelSettings",
    "CollectorSettings",
    "Deployment",
    "DispatchSettings",
    "StoreSettings",
    "TokenSettings",
]

DEFAULT_KEYS_VARIABLE = "CXCORE_TOKEN_KEYS"


@attrs.frozen
class StoreSettings:
    """The ``[store]`` table: a SQLite file, or a PostgreSQL DSN read from the environment.

    Attributes:
        sqlite: The SQLite file (absolute: a relative path in the file is
            relative to the file's folder), or ``None``.
        postgres_env: The environment variable holding the PostgreSQL DSN
            (it carries a password), or ``None``.

    .. versionadded:: 0.1.0
    """

    sqlite: Path | None = None
    postgres_env: str | None = None

    @property
    def kind(self) -> Literal["sqlite", "postgres"]:
        """``"sqlite"`` or ``"postgres"``."""
        return "sqlite" if self.sqlite is not None else "postgres"


@attrs.frozen
class CollectorSettings:
    """The ``[collector]`` table: where the collector is reached and what it accepts.

    Attributes:
        public_url: The collector's public URL, without a trailing slash: links
            and webhook signatures are computed over it, never over the URL a
            request arrives on.
        host: The interface ``cxcore serve`` listens on.
        port: The port it listens on.
        max_body_bytes: The largest request body accepted.
        amp_senders: The email addresses, and domains, allowed to post AMP
            forms (lower case).
        definitions: Definition files (journeys, surveys), as written in the
            file: ``cxcore serve`` stores their surveys, so pages can show them.
        rules: The rules file that interactions posted to the collector go
            through, as written in the file; ``None`` turns the interactions API off.
        agent_surveys: The surveys staff may report on, at ``/agent``.
        rate_per_address: Requests a second one network address may make
            (``None``: no limit).
        address_burst: The most requests at once from one address.
        rate_per_key: Requests a second one API key may make (``None``: no limit).
        key_burst: The most requests at once with one API key.
        kiosk_rate: Requests a second one kiosk may make (``None``: no limit).
        kiosk_burst: The most requests at once from one kiosk.
        keep_alive: Seconds ``cxcore serve`` keeps an idle connection open for
            its next request. Behind a proxy or load balancer that reuses
            connections, make it longer than the proxy's own idle timeout, so
            the server never closes a connection the proxy is sending on.

    .. versionadded:: 0.1.0
    """

    public_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 65536
    amp_senders: tuple[str, ...] = ()
    definitions: tuple[str, ...] = ()
    rules: str | None = None
    agent_surveys: tuple[str, ...] = ()
    rate_per_address: float | None = 20.0
    address_burst: int = 60
    rate_per_key: float | None = 500.0
    key_burst: int = 1000
    kiosk_rate: float | None = 2.0
    kiosk_burst: int = 30
    keep_alive: float = 5.0


@attrs.frozen
class TokenSettings:
    """The ``[tokens]`` table.

    Attributes:
        keys_env: The environment variable holding the token keys: newest
            first, separated by commas, each at least 32 bytes.

    .. versionadded:: 0.1.0
    """

    keys_env: str = DEFAULT_KEYS_VARIABLE


@attrs.frozen
class DispatchSettings:
    """The ``[dispatch]`` table.

    Attributes:
        batch: The most outbox items a dispatcher claims per pass.
        interval: Seconds a dispatcher waits after a pass that found less than
            a full batch.
        in_serve: Whether ``cxcore serve`` runs a dispatcher in its own process
            (``False`` when dispatchers run apart, with ``cxcore dispatch``).

    .. versionadded:: 0.1.0
    """

    batch: int = 100
    interval: float = 1.0
    in_serve: bool = True


@attrs.frozen
class ChannelSettings:
    """One ``[channels.<instance>]`` table: a channel plugin and its options.

    Attributes:
        instance: The instance's name: what invitations and the outbox call
            the channel, and its inbound path (``/c/<instance>``).
        plugin: The entry point of the plugin (in ``cxcore.channels``).
        options: The options written in the file, passed to the plugin's
            constructor (paths of ``*_file``, ``*_path`` and ``*_dir``
            options made absolute). Never a secret.
        env: Options read from the environment: option name to variable name.

    .. versionadded:: 0.1.0
    """

    instance: str
    plugin: str
    options: FrozenDict[str, Any] = attrs.field(factory=FrozenDict, converter=FrozenDict)
    env: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=FrozenDict)


@attrs.frozen
class AppSettings:
    """One ``[apps.<id>]`` table: an app the in-app widget runs in.

    Attributes:
        id: The app's id (the table's name).
        key: Its publishable key (``pk_...``): public by nature, so it is in the file.
        origins: The origins its pages are served from.
        name: Its name, for people.
        user_secret_env: The environment variable holding the secret its
            backend signs user tokens with, if it signs them.
        channel: The channel instance its prompts go out on.
        touchpoints: The touchpoint of each event, where the event's name is not one.
        anonymous: Whether visitors who are not signed in may be asked.

    .. versionadded:: 0.1.0
    """

    id: str
    key: str
    origins: tuple[str, ...]
    name: str = ""
    user_secret_env: str | None = None
    channel: str = "inapp"
    touchpoints: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=FrozenDict)
    anonymous: bool = True


@attrs.frozen
class Deployment:
    """A deployment, as its file (``cxcore.toml``) describes it.

    It holds the names of the environment variables that carry secrets, never
    their values: each method that builds a real part reads the environment
    when it is called. Build it with :func:`~cxcore.deployment.load_deployment`.

    Attributes:
        source: The file it was read from.
        store: The ``[store]`` table.
        collector: The ``[collector]`` table.
        tokens: The ``[tokens]`` table.
        dispatch: The ``[dispatch]`` table.
        channels: The channel instances, by instance name.
        apps: The apps the in-app widget runs in, by id.

    .. versionadded:: 0.1.0
    """

    source: Path
    store: StoreSettings
    collector: CollectorSettings
    tokens: TokenSettings = TokenSettings()
    dispatch: DispatchSettings = DispatchSettings()
    channels: FrozenDict[str, ChannelSettings] = attrs.field(
        factory=FrozenDict, converter=FrozenDict
    )
    apps: FrozenDict[str, AppSettings] = attrs.field(factory=FrozenDict, converter=FrozenDict)

    def path(self, name: str) -> Path:
        """A file the deployment names, relative to the deployment file's folder.

        .. versionadded:: 0.1.0
        """
        return self.source.parent / name

    def inbound_url(self, instance: str) -> str:
        """Where channel *instance* receives answers and webhooks: ``<public_url>/c/<instance>``.

        .. versionadded:: 0.1.0
        """
        return f"{self.collector.public_url}/c/{instance}"

    def open_store(
        self, clock: Clock | None = None, *, environ: Mapping[str, str] | None = None
    ) -> Store:
        """The store, not yet opened (``async with`` it, or ``await store.open()``).

        Args:
            clock: The store's clock (default: the system's).
            environ: Where environment variables are read (default: ``os.environ``).

        Raises:
            DeploymentError: If the DSN's environment variable is not set.

        .. versionadded:: 0.1.0
        """
        return building.open_store(self, clock, _env(environ))

    def token_service(
        self, clock: Clock | None = None, *, environ: Mapping[str, str] | None = None
    ) -> TokenService:
        """The token service, with its keys from the variable ``tokens.keys_env`` names.

        Args:
            clock: Tells the time for expiry checks (default: the system's).
            environ: Where environment variables are read (default: ``os.environ``).

        Raises:
            DeploymentError: If the keys are not set, or one is shorter than 32 bytes.

        .. versionadded:: 0.1.0
        """
        return building.token_service(self, clock, _env(environ))

    def create_channels(
        self,
        registry: ChannelRegistry | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> dict[str, Channel]:
        """Create every channel instance: its plugin, built with its options.

        Options named ``<name>_env`` are read from the environment. A plugin
        whose constructor takes ``base_url`` or ``inbound_url`` is given
        ``collector.public_url`` and :meth:`inbound_url`, each unless its
        table sets it. Creating a channel does not connect it.

        Args:
            registry: Where plugins are found (default: the installed ones).
            environ: Where environment variables are read (default: ``os.environ``).

        Returns:
            The open channels, by instance name; close each with ``aclose``.

        Raises:
            DeploymentError: Listing every problem of every instance: a plugin
                that is missing or fails to load, an unknown or missing option,
                an unset variable, a constructor that refuses its options.

        .. versionadded:: 0.1.0
        """
        return building.create_channels(self, _registry(registry), _env(environ))

    def widget_apps(self, *, environ: Mapping[str, str] | None = None) -> list[WidgetApp]:
        """The apps of ``[apps.<id>]``, with their user secrets read from the environment.

        Raises:
            DeploymentError: If a variable ``user_secret_env`` names is not set,
                or an app's settings are refused (naming each).

        .. versionadded:: 0.1.0
        """
        return building.widget_apps(self, _env(environ))

    async def acheck(
        self,
        registry: ChannelRegistry | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> list[Problem]:
        """Check what the file cannot show alone; :meth:`check`'s async twin.

        .. versionadded:: 0.1.0
        """
        return await building.check(self, _registry(registry), _env(environ))

    def check(
        self,
        registry: ChannelRegistry | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> list[Problem]:
        """Check what the file cannot show alone: the environment, the store, the plugins.

        Every environment variable the file names is set and valid (the token
        keys as :class:`~cxcore.distribution.TokenService` wants them); the
        SQLite file's folder exists, or the PostgreSQL DSN parses (nothing is
        connected); each plugin loads and accepts its options: each channel is
        created, then closed. Usable inside a running event loop too (it then
        runs in a thread of its own); or await :meth:`acheck`.

        Args:
            registry: Where plugins are found (default: the installed ones).
            environ: Where environment variables are read (default: ``os.environ``).

        Returns:
            Every problem, each with its place in the file; none if all is well.

        .. versionadded:: 0.1.0
        """
        job = self.acheck(registry, environ)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(job)
        with ThreadPoolExecutor(max_workers=1) as thread:  # a loop of its own
            return thread.submit(asyncio.run, job).result()


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _registry(registry: ChannelRegistry | None) -> ChannelRegistry:
    if registry is not None:
        return registry
    from cxcore.ports.registry import channel_registry  # noqa: PLC0415 - on first use

    return channel_registry()
