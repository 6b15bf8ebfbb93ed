"""The errors cxcore raises.

Every error derives from :class:`CxError`, so ``except cxcore.CxError`` catches
everything the library raises on purpose. Errors that report bad input name the
object, the field and the value at fault; errors about several problems list
every one of them instead of stopping at the first.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "ChannelClosedError",
    "ChannelError",
    "ChannelNotFoundError",
    "ChannelShapeError",
    "CxError",
    "DefinitionError",
    "DuplicateChannelError",
    "InboundAuthError",
    "InboundError",
    "PluginLoadError",
    "Problem",
    "SendError",
    "UnknownMetricError",
    "ValidationError",
]


class CxError(Exception):
    """The root of every error cxcore raises on purpose.

    .. versionadded:: 0.1.0
    """


@attrs.frozen
class Problem:
    """One thing wrong with some input.

    Attributes:
        path: Where the problem is, relative to the object being checked, in the
            form ``questions[2].scale``. Empty for the object as a whole.
        message: What is wrong, naming the value and what was expected.

    .. versionadded:: 0.1.0
    """

    path: str
    message: str

    def under(self, prefix: str) -> Problem:
        """Return this problem with *prefix* put in front of its path."""
        if not prefix:
            return self
        if not self.path:
            return Problem(prefix, self.message)
        sep = "" if self.path.startswith("[") else "."
        return Problem(f"{prefix}{sep}{self.path}", self.message)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to *word*, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def count_problems(count: int) -> str:
    """``"1 problem"``, ``"2 problems"``: how the messages count what they list."""
    return f"{count} problem" if count == 1 else f"{count} problems"


def _render(headline: str, problems: Sequence[Problem]) -> str:
    lines = [headline]
    lines.extend(f"  {p}" for p in problems)
    return "\n".join(lines)


class ValidationError(CxError, ValueError):
    """A value could not be built because its fields are wrong.

    Raised by the constructors of the model classes. :attr:`problems` holds
    every problem found, each with the path of the field at fault.

    Args:
        subject: What was being built, e.g. ``"NpsQuestion 'ltr'"``.
        problems: Every problem found.

    .. versionadded:: 0.1.0
    """

    def __init__(self, subject: str, problems: Iterable[Problem]) -> None:
        self.subject = subject
        self.problems: tuple[Problem, ...] = tuple(problems)
        counted = count_problems(len(self.problems))
        super().__init__(_render(f"{subject} is invalid ({counted}):", self.problems))


class DefinitionError(CxError, ValueError):
    """A definition file (or document) could not be loaded.

    The message lists every problem with its path inside the document, for
    example ``surveys[0].questions[2].scale: 11 is not a valid NPS scale``.

    Args:
        source: The file name, or a description of where the document came from.
        problems: Every problem found.

    .. versionadded:: 0.1.0
    """

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(_render(f"{source}: {count_problems(len(self.problems))}:", self.problems))


class UnknownMetricError(CxError, LookupError):
    """A metric name is not in the registry.

    .. versionadded:: 0.1.0
    """

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(
            f"unknown metric {name!r}{did_you_mean(name, self.known)}; registered metrics are: "
            f"{', '.join(self.known) or 'none'}"
        )


class ChannelError(CxError):
    """Something went wrong with a channel or the channel registry.

    .. versionadded:: 0.1.0
    """


class ChannelNotFoundError(ChannelError, LookupError):
    """No channel is registered under a name (or it failed to load, or is blocked).

    .. versionadded:: 0.1.0
    """


class PluginLoadError(ChannelError):
    """A channel plugin's entry point could not be imported.

    The plugin is isolated: other channels keep working. The original exception
    is chained as ``__cause__``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, name: str, origin: str, reason: str) -> None:
        self.name = name
        self.origin = origin
        self.reason = reason
        super().__init__(f"channel plugin {name!r} ({origin}) failed to load: {reason}")


class ChannelShapeError(PluginLoadError):
    """A channel plugin loaded, but does not fit the :class:`~cxcore.Channel` protocol.

    .. versionadded:: 0.1.0
    """

    def __init__(self, name: str, origin: str, mismatches: Sequence[str]) -> None:
        self.mismatches = tuple(mismatches)
        reason = "it does not fit the Channel protocol: " + "; ".join(self.mismatches)
        super().__init__(name, origin, reason)


class DuplicateChannelError(ChannelError):
    """Two plugins claim the same channel name.

    .. versionadded:: 0.1.0
    """

    def __init__(self, name: str, origins: Sequence[str]) -> None:
        self.name = name
        self.origins = tuple(origins)
        super().__init__(
            f"channel {name!r} is claimed more than once: "
            + " and ".join(self.origins)
            + "; uninstall all but one, or register the one you want with "
            "ChannelRegistry.register(name, cls, replace=True)"
        )


class ChannelClosedError(ChannelError):
    """A channel was used after :meth:`~cxcore.Channel.aclose`.

    .. versionadded:: 0.1.0
    """


class SendError(ChannelError):
    """A channel could not hand a message to its provider.

    What the sender should do next is carried as data, so the dispatcher needs
    no knowledge of any provider:

    * ``retryable``: a temporary failure (an SMTP 4xx, an HTTP 429); try again
      later, with backoff.
    * ``suppress``: a permanent failure of the address itself (an SMTP 5xx on
      the recipient, an unsubscribed phone number); never send to it again.
    * ``ambiguous``: the provider may already have accepted the message (a
      timeout after the request was sent); reconcile, never blindly re-send.

    Args:
        message: What happened, naming the provider's code where there is one.
        retryable: Whether trying again later may succeed.
        suppress: Whether the address should be put on the suppression list.
        ambiguous: Whether the provider may have accepted the message.
        code: The provider's own error code, if any.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        suppress: bool = False,
        ambiguous: bool = False,
        code: str | None = None,
    ) -> None:
        if ambiguous and retryable:
            msg = "a send error cannot be both ambiguous and retryable"
            raise ValueError(msg)
        self.retryable = retryable
        self.suppress = suppress
        self.ambiguous = ambiguous
        self.code = code
        super().__init__(message)


class InboundError(ChannelError):
    """An inbound request (webhook, reply, form post) could not be understood.

    Channels raise this from :meth:`~cxcore.Channel.parse_inbound` for input they
    cannot parse; the collector answers it with a client error and stores nothing.

    .. versionadded:: 0.1.0
    """


class InboundAuthError(InboundError):
    """An inbound request is not authentic: its signature or secret is missing or wrong.

    The collector answers it with ``403 Forbidden`` and stores nothing.

    .. versionadded:: 0.1.0
    """
