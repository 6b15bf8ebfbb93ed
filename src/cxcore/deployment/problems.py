"""What is wrong with a deployment: every problem at once, with its place in the file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cxcore.errors import CxError, Problem, did_you_mean

__all__ = ["DeploymentError"]


class DeploymentError(CxError, ValueError):
    """A deployment file, or the environment it names, cannot be used.

    The message lists every problem with its place in the file, for example
    ``channels.email.password: is a secret ...`` or ``store: names both sqlite
    and postgres_env``. No problem ever shows a secret's value.

    Args:
        source: The file, or a description of where the deployment came from.
        problems: Every problem found.

    Attributes:
        source: The file.
        problems: Every problem found.

    .. versionadded:: 0.1.0
    """

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        lines = [f"{source}: {count} {'problem' if count == 1 else 'problems'}:"]
        lines.extend(f"  {p}" for p in self.problems)
        super().__init__("\n".join(lines))


class Problems:
    """Collects problems as a file is read, each with its path."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record that what is at *path* is wrong, and why."""
        self.found.append(Problem(path, message))

    def __bool__(self) -> bool:
        return bool(self.found)


def join(path: str, key: str) -> str:
    """The path of *key* inside the table at *path*."""
    return f"{path}.{key}" if path else key


suggest = did_you_mean


def kind(value: object) -> str:
    """What a TOML value is, in words, for messages that must not show the value itself."""
    match value:
        case bool():
            return "true or false"
        case int():
            return "a whole number"
        case float():
            return "a number"
        case str():
            return "text"
        case list() | tuple():
            return "a list"
        case dict():
            return "a table"
        case _:
            return "a date or time"


def shown(path: Path) -> str:
    """*path* as messages show it: relative to the current folder if it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
