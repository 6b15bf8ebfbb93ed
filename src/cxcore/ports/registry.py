"""The channel registry: channels found through the entry-point group ``cxcore.channels``.

Discovery is lazy: nothing is read until a channel is first asked for, and a
plugin is imported only when it is needed. A plugin that fails to import, or
does not fit the :class:`~cxcore.Channel` protocol, is recorded and isolated;
every other channel keeps working. Two plugins claiming one name is an error
naming both. Tests replace or block channels on a registry of their own, or for
a ``with`` block, without monkey-patching anything.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from cxcore.errors import (
    ChannelError,
    ChannelNotFoundError,
    ChannelShapeError,
    DuplicateChannelError,
    PluginLoadError,
    Problem,
)
from cxcore.ports.channel import Capabilities, Channel

if TYPE_CHECKING:
    import importlib.metadata

    from cxcore.model.survey import Survey

__all__ = ["ENTRY_POINT_GROUP", "ChannelInfo", "ChannelRegistry", "channel_registry", "get_channel"]

ENTRY_POINT_GROUP = "cxcore.channels"
"""The entry-point group channel plugins register under."""

log = logging.getLogger("cxcore.channels")

ChannelFactory = type[Channel]
"""What a channel entry point resolves to: a class implementing :class:`~cxcore.Channel`."""

_VERBS: tuple[tuple[str, bool], ...] = (
    ("render", False),
    ("send", True),
    ("parse_inbound", False),
    ("aclose", True),
)


@attrs.frozen
class ChannelInfo:
    """What the registry knows of one channel name, for listings such as ``cxcore channels``.

    .. versionadded:: 0.1.0
    """

    name: str
    origin: str
    capabilities: Capabilities | None
    error: ChannelError | None


@attrs.frozen
class _Candidate:
    """One source for a name: an entry point, or a class registered in code."""

    origin: str
    load: Callable[[], object]


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    where = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"{ep.value} from {where}"


def check_shape(name: str, origin: str, obj: object) -> ChannelFactory:
    """Check that *obj* fits the channel protocol; return it typed as a factory.

    Raises:
        ChannelShapeError: Naming the plugin and every mismatch.
    """
    mismatches: list[str] = []
    if not inspect.isclass(obj):
        mismatches.append(f"it is {type(obj).__name__} {obj!r}, not a class")
    else:
        caps = getattr(obj, "capabilities", None)
        if caps is None:
            mismatches.append("class attribute 'capabilities' is missing")
        elif not isinstance(caps, Capabilities):
            mismatches.append(f"'capabilities' is {type(caps).__name__}, not cxcore.Capabilities")
        for verb, is_async in _VERBS:
            attr = getattr(obj, verb, None)
            if attr is None:
                mismatches.append(f"method {verb!r} is missing")
            elif not callable(attr):
                mismatches.append(f"{verb!r} is not a method")
            elif is_async and not inspect.iscoroutinefunction(attr):
                mismatches.append(f"{verb!r} must be 'async def'")
            elif not is_async and inspect.iscoroutinefunction(attr):
                mismatches.append(f"{verb!r} must not be 'async def' (it is pure)")
    if mismatches:
        raise ChannelShapeError(name, origin, mismatches)
    return obj  # type: ignore[return-value]  # checked just above


class ChannelRegistry:
    """Channels by name, discovered from entry points on first use.

    Args:
        group: The entry-point group to read.
        entry_points: Use these entry points instead of the installed ones
            (tests build registries from small fake distributions this way).
        blocked: Names to hide, as if they were not installed.
        discover: Whether to read entry points at all; ``False`` gives a
            registry with only what you :meth:`register`.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        group: str = ENTRY_POINT_GROUP,
        entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
        blocked: Iterable[str] = (),
        discover: bool = True,
    ) -> None:
        self._group = group
        self._given = None if entry_points is None else tuple(entry_points)
        self._discover = discover
        self._blocked: set[str] = set(blocked)
        self._lock = threading.RLock()
        self._candidates: dict[str, list[_Candidate]] | None = None
        self._registered: dict[str, ChannelFactory] = {}
        self._overrides: list[dict[str, ChannelFactory]] = []
        self._loaded: dict[str, ChannelFactory] = {}
        self._errors: dict[str, ChannelError] = {}

    # -- discovery ----------------------------------------------------------

    def _scan(self) -> dict[str, list[_Candidate]]:
        with self._lock:
            if self._candidates is None:
                found: dict[str, list[_Candidate]] = {}
                if self._discover:
                    import importlib.metadata  # noqa: PLC0415 - costly; needed on first use only

                    eps = (
                        self._given
                        if self._given is not None
                        else importlib.metadata.entry_points(group=self._group)
                    )
                    seen: set[tuple[str, str]] = set()
                    for ep in eps:
                        if (ep.name, ep.value) in seen:  # one distribution seen twice on sys.path
                            continue
                        seen.add((ep.name, ep.value))
                        found.setdefault(ep.name, []).append(_Candidate(_origin(ep), ep.load))
                self._candidates = found
            return self._candidates

    def _resolve(self, name: str) -> ChannelFactory:
        for layer in reversed(self._overrides):
            if name in layer:
                return layer[name]
        if name in self._blocked:
            msg = f"channel {name!r} is blocked in this registry"
            raise ChannelNotFoundError(msg)
        if name in self._registered:
            return self._registered[name]
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            if name in self._errors:
                raise self._errors[name]
            candidates = self._scan().get(name)
            if not candidates:
                available = ", ".join(self.names()) or "none"
                msg = f"no channel {name!r} is installed (available: {available})"
                raise ChannelNotFoundError(msg)
            try:
                factory = self._load(name, candidates)
            except ChannelError as exc:
                self._errors[name] = exc
                log.warning("%s", exc)
                raise
            self._loaded[name] = factory
            return factory

    def _load(self, name: str, candidates: list[_Candidate]) -> ChannelFactory:
        if len(candidates) > 1:
            raise DuplicateChannelError(name, [c.origin for c in candidates])
        (candidate,) = candidates
        try:
            obj = candidate.load()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise PluginLoadError(name, candidate.origin, reason) from exc
        return check_shape(name, candidate.origin, obj)

    # -- reading --------------------------------------------------------------

    def names(self) -> list[str]:
        """The names of the channels available, sorted (without loading any plugin)."""
        with self._lock:
            names = set(self._scan()) | set(self._registered)
            names -= self._blocked
            for layer in self._overrides:
                names |= set(layer)
            return sorted(names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> ChannelFactory:
        """Return the channel class registered as *name*, importing its plugin if needed.

        Raises:
            ChannelNotFoundError: If no channel has that name, or it is blocked.
            PluginLoadError: If its plugin fails to import.
            ChannelShapeError: If it does not fit the channel protocol.
            DuplicateChannelError: If two plugins claim the name.
        """
        return self._resolve(name)

    def create(self, name: str, /, **config: Any) -> Channel:  # noqa: ANN401 - each channel has its own settings
        """Create the channel *name* with its configuration (``host=``, ``base_url=``...)."""
        return self.get(name)(**config)

    def capabilities(self, name: str) -> Capabilities:
        """The capabilities of channel *name* (imports its plugin)."""
        return self.get(name).capabilities

    def describe(self) -> list[ChannelInfo]:
        """Load every channel and say what each is, or why it failed to load."""
        infos: list[ChannelInfo] = []
        for name in self.names():
            try:
                factory = self.get(name)
            except ChannelError as exc:
                infos.append(ChannelInfo(name, self._origin_of(name), None, exc))
            else:
                infos.append(ChannelInfo(name, self._origin_of(name), factory.capabilities, None))
        return infos

    def check_survey(self, survey: Survey, channels: Iterable[str] | None = None) -> list[Problem]:
        """What the channels that review surveys (:class:`~cxcore.SurveyCheck`) say of *survey*.

        Each problem's message begins with the channel's name; its path is
        relative to the survey. A channel that fails to load is left out (see
        :meth:`errors`); one whose check raises gives a problem that says so.

        Args:
            survey: The survey to review.
            channels: The channel names to ask; every installed channel if ``None``.

        .. versionadded:: 0.1.0
        """
        problems: list[Problem] = []
        for name in self.names() if channels is None else channels:
            try:
                factory = self.get(name)
            except ChannelError:
                continue
            check = getattr(factory, "check_survey", None)
            if not callable(check):
                continue
            try:
                found = list(check(survey))
            except Exception as exc:  # one plugin's bug must not stop the others
                log.warning("channel %r: its survey check failed", name, exc_info=True)
                problems.append(
                    Problem(
                        "",
                        f"channel {name!r}: its survey check failed: {type(exc).__name__}: {exc}",
                    )
                )
                continue
            problems.extend(Problem(p.path, f"channel {name!r}: {p.message}") for p in found)
        return problems

    def errors(self) -> dict[str, ChannelError]:
        """Every channel that failed to load, and why (loads every plugin)."""
        return {info.name: info.error for info in self.describe() if info.error is not None}

    def _origin_of(self, name: str) -> str:
        for layer in reversed(self._overrides):
            if name in layer:
                return f"{_qualname(layer[name])} (override)"
        if name in self._registered:
            return f"{_qualname(self._registered[name])} (registered in code)"
        candidates = self._scan().get(name, [])
        return " and ".join(c.origin for c in candidates) or "unknown"

    # -- changing -------------------------------------------------------------

    def register(self, name: str, factory: ChannelFactory, *, replace: bool = False) -> None:
        """Register *factory* as channel *name* from code.

        Raises:
            DuplicateChannelError: If the name is taken and *replace* is false.
            ChannelShapeError: If *factory* does not fit the protocol.
        """
        origin = f"{_qualname(factory)} (registered in code)"
        checked = check_shape(name, origin, factory)
        with self._lock:
            if not replace and (name in self._registered or name in self._scan()):
                taken = self._origin_of(name)
                raise DuplicateChannelError(name, [taken, origin])
            self._registered[name] = checked
            self._errors.pop(name, None)

    @contextlib.contextmanager
    def overridden(self, channels: Mapping[str, ChannelFactory]) -> Iterator[ChannelRegistry]:
        """Within the block, serve *channels* in place of (or beside) the installed ones.

        >>> from cxcore.testing import FakeChannel
        >>> registry = ChannelRegistry(discover=False)
        >>> with registry.overridden({"email": FakeChannel}):
        ...     registry.get("email") is FakeChannel
        True
        >>> "email" in registry
        False
        """
        layer = {name: check_shape(name, "override", f) for name, f in channels.items()}
        with self._lock:
            self._overrides.append(layer)
        try:
            yield self
        finally:
            with self._lock:
                self._overrides.remove(layer)

    @contextlib.contextmanager
    def blocked(self, *names: str) -> Iterator[ChannelRegistry]:
        """Within the block, hide *names* as if their plugins were not installed."""
        with self._lock:
            added = set(names) - self._blocked
            self._blocked |= added
        try:
            yield self
        finally:
            with self._lock:
                self._blocked -= added

    def __repr__(self) -> str:
        return f"ChannelRegistry(group={self._group!r}, names={self.names()!r})"


def _qualname(obj: object) -> str:
    module = getattr(obj, "__module__", "?")
    return f"{module}:{getattr(obj, '__qualname__', repr(obj))}"


_REGISTRY: ChannelRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def channel_registry() -> ChannelRegistry:
    """Return the process-wide registry of installed channels (created on first use)."""
    global _REGISTRY  # noqa: PLW0603 - one lazily created process-wide registry
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = ChannelRegistry()
        return _REGISTRY


def get_channel(name: str) -> ChannelFactory:
    """Return the installed channel class *name* (see :meth:`ChannelRegistry.get`)."""
    return channel_registry().get(name)
